import XCTest
@testable import EpsimCore

/// Non-finite logits are a thrown one-line `RoutingError` naming their origin, from the
/// fast router and the reference alike; nothing is routed on them.
extension RouterTests {
    /// The error both routers throw for (`config`, rank 0, step 0, layer 0, `inputs`),
    /// checked to be the same one; nil if they route.
    func routingError(_ c: SimConfig, inputs: [Float]) throws -> RoutingError? {
        var router = try Router(config: c, worldSize: 1)
        var out = RouterOutput(config: c, rank: 0, worldSize: 1)
        var fast: RoutingError? = nil, reference: RoutingError? = nil
        do { try router.route(step: 0, rank: 0, layer: 0, inputs: inputs, into: &out) } catch { fast = error }
        let plain = try ReferenceRouter(config: c, worldSize: 1)
        do { _ = try plain.route(step: 0, rank: 0, layer: 0, inputs: inputs) } catch { reference = error }
        XCTAssertEqual(fast, reference, "the fast router and the reference disagree")
        if fast == nil {
            XCTAssertTrue(out.weights.allSatisfy(\.isFinite) && out.scores.allSatisfy(\.isFinite))
        }
        return fast
    }

    /// Noise that could overflow float32 is out of `router.noise_std`'s range, which the
    /// router checks (`ConfigValidator`); the largest noise in range routes.
    func testNoiseThatOverflowsFloatIsAnErrorNamingNoiseStd() throws {
        let c = Self.config(experts: 4, topK: 2, workload: .gating, tokens: .uniform(8), noiseStd: 1e39)
        XCTAssertEqual(routerError(c), "router.noise_std: expected a number in [0, 1000], got 1e39")
        let error = RoutingError(value: .infinity, layer: 0, rank: 0, token: 1, expert: 2, source: .gatingNoise(std: 1e39))
        XCTAssertEqual(error.description, "router: non-finite logit inf at layer 0, rank 0, token 1, expert 2"
                       + " from the gating noise; router.noise_std = 1e+39 is too large for float32 logits")
        let x = TokenInputs.make(seed: 1, step: 0, rank: 0, tokens: 8, hidden: 16)
        let loud = Self.config(experts: 4, topK: 2, workload: .gating, tokens: .uniform(8), noiseStd: 1000)
        XCTAssertNil(try routingError(loud, inputs: x))
    }

    func testNonFiniteGatingProductNamesTheInput() throws {
        let c = Self.config(experts: 4, topK: 2, workload: .gating, tokens: .uniform(8))
        var x = TokenInputs.make(seed: 1, step: 0, rank: 0, tokens: 8, hidden: 16)
        XCTAssertNil(try routingError(c, inputs: x))
        x[3 * 16 + 7] = .nan
        let error = try XCTUnwrap(try routingError(c, inputs: x))
        XCTAssertEqual(error.token, 3)
        XCTAssertEqual(error.source, .gatingProduct(inputFinite: false))
        XCTAssertTrue(error.description.hasSuffix(
            "token 3, expert 0 from the gating product x · Wg; the token's input row is not finite"), error.description)
        // Finite inputs whose product overflows float32.
        let huge = [Float](repeating: 3e38, count: 8 * 16)
        XCTAssertEqual(try routingError(c, inputs: huge)?.source, .gatingProduct(inputFinite: true))
    }

    func testTraceLogitsThatAreInfiniteAreRejectedWithTheFile() throws {
        let p = path("inf.npy")
        var data = [Float](repeating: 0, count: 12)
        data[1 * 4 + 2] = -.infinity
        try NpyWriter.write(path: p, rows: 3, cols: 4, data: data)
        var c = Self.config(experts: 4, topK: 2, workload: .trace(files: [p]), tokens: .uniform(3))
        c.sourcePath = "run.yaml"
        XCTAssertEqual(routerError(c), "run.yaml: workload.file: \(p): row 1, column 2 is -inf; logits must be finite")
    }

    func testTraceOriginsNameTheFileRow() throws {
        // One file split over ranks of 3 and 4 tokens: rank 1's token 2 is row 5.
        let split = try RouterSpec(config: Self.config(experts: 4, topK: 1, workload: .trace(files: ["a.npy"]),
                                                        tokens: .perRank([3, 4])), worldSize: 2)
        XCTAssertEqual(split.logitSource(rank: 1, token: 2), .trace(file: "a.npy", row: 5))
        let perRank = try RouterSpec(config: Self.config(experts: 4, topK: 1, workload: .trace(files: ["a.npy", "b.npy"]),
                                                          tokens: .perRank([3, 4])), worldSize: 2)
        XCTAssertEqual(perRank.logitSource(rank: 1, token: 2), .trace(file: "b.npy", row: 2))
        let error = RoutingError(value: .nan, layer: 0, rank: 1, token: 2, expert: 3, source: .trace(file: "b.npy", row: 2))
        XCTAssertEqual(error.description, "router: non-finite logit nan at layer 0, rank 1, token 2, expert 3"
                       + " from the trace b.npy, row 2, column 3; logits must be finite")
    }
}
