import XCTest
@testable import EpsimCore

/// `Capacity.zeroDropFactor`: the factor d · E / (T · k), under which C holds d and
/// under which one assignment fewer would fit at (d − 1) · E / (T · k).
final class ZeroDropFactorTests: XCTestCase {
    private func cap(_ rounding: CapacityRounding = .exact, min: Int = 0) -> CapacityConfig {
        var c = CapacityConfig()
        c.rounding = rounding
        c.minCapacity = min
        return c
    }

    private func capacity(_ c: CapacityConfig, factor: Double, tokens: Int, topK: Int, experts: Int) -> Int {
        var c = c
        c.factor = factor
        return Capacity.local(c, tokens: tokens, topK: topK, experts: experts)!
    }

    func testByHand() {
        // 512 tokens, top-2, 8 experts: 128 per expert at cf 1; a demand of 160 needs 1.25.
        XCTAssertEqual(Capacity.zeroDropFactor(cap(), demand: 160, tokens: 512, topK: 2, experts: 8), 1.25)
        // 500 tokens, top-1, 10 experts, demand 55: 1.1, where Megatron-Core's order gives C = 56.
        XCTAssertEqual(Capacity.zeroDropFactor(cap(), demand: 55, tokens: 500, topK: 1, experts: 10), 1.1)
        // min_capacity covers the demand: any factor, reported 0; one more and it does not.
        XCTAssertEqual(Capacity.zeroDropFactor(cap(min: 4), demand: 4, tokens: 512, topK: 2, experts: 8), 0)
        XCTAssertEqual(Capacity.zeroDropFactor(cap(min: 4), demand: 5, tokens: 512, topK: 2, experts: 8), 5.0 / 128)
        XCTAssertEqual(Capacity.zeroDropFactor(cap(), demand: 0, tokens: 0, topK: 2, experts: 8), 0)
    }

    /// For many shapes and both roundings: C(cf) is d or d + 1, C(cf) at one assignment's
    /// worth less is below d.
    func testTheFactorHoldsTheDemandAndNoLess() {
        var rng = TestRandom(seed: 7)
        for rounding in CapacityRounding.allCases {
            for _ in 0..<5000 {
                let t = Int(rng.next() % 5000) + 1, k = Int(rng.next() % 8) + 1, e = Int(rng.next() % 256) + 1
                let d = Int(rng.next() % UInt64(t * k)) + 1
                let cf = Capacity.zeroDropFactor(cap(rounding), demand: d, tokens: t, topK: k, experts: e)
                let c = capacity(cap(rounding), factor: cf, tokens: t, topK: k, experts: e)
                XCTAssertTrue(c == d || c == d + 1, "\(rounding) T \(t) k \(k) E \(e) d \(d): cf \(cf) gives C \(c)")
                let less = cf * Double(d - 1) / Double(d) * (1 - 1e-6)
                XCTAssertLessThan(capacity(cap(rounding), factor: less, tokens: t, topK: k, experts: e), d,
                                  "\(rounding) T \(t) k \(k) E \(e) d \(d): cf \(less)")
            }
        }
    }
}
