import XCTest
@testable import EpsimCore

final class ExpertTests: XCTestCase {
    private func model(_ h: Int, _ f: Int, _ a: Activation) -> ModelConfig {
        var m = ModelConfig()
        m.hidden = h
        m.ffn = f
        m.activation = a
        return m
    }

    func testBLASPathEqualsReference() {
        for (h, f) in [(16, 32), (64, 128)] {
            for activation in Activation.allCases {
                for seed in [UInt64(1), 2] {
                    let m = model(h, f, activation)
                    let w = ExpertWeights(seed: seed, layer: 1, expert: 3, model: m)
                    let compute = ExpertCompute(hidden: h, ffn: f)
                    for n in [0, 1, 7, 64] {
                        let x = TokenInputs.make(seed: seed, step: n, rank: 0, tokens: n, hidden: h)
                        var y = [Float](repeating: .nan, count: n * h)
                        x.withUnsafeBufferPointer { xb in
                            y.withUnsafeMutableBufferPointer { compute.apply(w, x: xb, rows: n, into: $0) }
                        }
                        var maxDiff = 0.0, scale = 0.0
                        for t in 0..<n {
                            let ref = ExpertReference.apply(w, token: x[(t * h)..<((t + 1) * h)])
                            for j in 0..<h {
                                maxDiff = max(maxDiff, abs(Double(y[t * h + j]) - ref[j]))
                                scale = max(scale, abs(ref[j]))
                            }
                        }
                        if n > 0 { XCTAssertLessThanOrEqual(maxDiff, 1e-5 * scale, "\(h)x\(f) \(activation) n=\(n)") }
                    }
                }
            }
        }
    }

    func testWeightsDependOnSeedLayerAndExpertOnly() {
        let m = model(16, 32, .swiglu)
        let a = ExpertWeights(seed: 9, layer: 0, expert: 2, model: m)
        XCTAssertEqual(a.w1, ExpertWeights(seed: 9, layer: 0, expert: 2, model: m).w1)
        XCTAssertEqual(a.w2, ExpertWeights(seed: 9, layer: 0, expert: 2, model: m).w2)
        XCTAssertNotEqual(a.w1, ExpertWeights(seed: 9, layer: 0, expert: 3, model: m).w1)
        XCTAssertNotEqual(a.w1, ExpertWeights(seed: 9, layer: 1, expert: 2, model: m).w1)
        XCTAssertNotEqual(a.w1, ExpertWeights(seed: 9, layer: 0, shared: 2, model: m).w1)
        XCTAssertEqual(a.w1.count, 16 * 32)
        XCTAssertEqual(a.w3.count, 16 * 32)
        XCTAssertTrue(ExpertWeights(seed: 9, layer: 0, expert: 2, model: model(16, 32, .gelu)).w3.isEmpty)
    }

    func testFlopsByHand() {
        // SwiGLU: 3 products of 2·n·H·F; GELU: 2.
        XCTAssertEqual(ExpertCost.flops(tokens: 10, model: model(256, 512, .swiglu)), 3 * 2 * 10 * 256 * 512)
        XCTAssertEqual(ExpertCost.flops(tokens: 10, model: model(256, 512, .gelu)), 2 * 2 * 10 * 256 * 512)
    }
}

/// The vectorized activations against the scalar (libm) ones.
final class VectorActivationTests: XCTestCase {
    func testFastExpMatchesLibmAcrossTheRange() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let exact = Float(Foundation.exp(Double(x)))
            worst = max(worst, abs(ExpertActivation.fastExp(x) - exact) / exact)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
        // Clamped, never inf or zero.
        for edge: Float in [-1000, -88, 89, 1000, .infinity, -.infinity] {
            let v = ExpertActivation.fastExp(edge)
            XCTAssertTrue(v.isFinite && v > 0, "e^\(edge) = \(v)")
        }
        XCTAssertEqual(ExpertActivation.fastExp(0), 1)
    }

    func testBlockActivationsMatchScalarOnes() {
        // 1003 elements: the vector body and a scalar tail.
        var rng = SplitMix(seed: 5)
        let a0 = (0..<1003).map { _ in Float(rng.nextDouble() * 24 - 12) }
        let b = (0..<1003).map { _ in Float(rng.nextDouble() * 4 - 2) }
        var a = a0
        a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeBufferPointer { ExpertActivation.swiglu(pa, times: $0) }
        }
        for i in a0.indices {
            let exact = ExpertActivation.silu(Double(a0[i])) * Double(b[i])
            XCTAssertEqual(Double(a[i]), exact, accuracy: 1e-6 * max(1, abs(exact)), "swiglu at \(i)")
        }
        var g = a0
        g.withUnsafeMutableBufferPointer { ExpertActivation.gelu($0) }
        for i in a0.indices {
            let exact = ExpertActivation.gelu(Double(a0[i]))
            XCTAssertEqual(Double(g[i]), exact, accuracy: 1e-6 * max(1, abs(exact)), "gelu at \(i)")
        }
    }
}

/// A tiny deterministic generator for test data.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextDouble() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }
}
