import XCTest
@testable import EpsimCore
@testable import EpsimRuntime

/// `--verify` can fail: one real step on 2 emulated ranks is gathered once, then fed to
/// the verifier's comparison unaltered (PASS) and with one thing altered at a time
/// (each must FAIL, for the right reason). Plus a deep stack that must stay finite.
final class VerifierTests: XCTestCase {
    private final class Box: @unchecked Sendable {
        var input: VerificationInput?
        var layout: ExpertLayout?
    }

    /// 2 layers of 4 experts, top-2, with drops and a shared expert.
    private func config() -> SimConfig {
        var c = SimConfig()
        c.model.hidden = 16
        c.model.ffn = 32
        c.model.experts = 4
        c.model.topK = 2
        c.model.sharedExperts = 1
        c.model.layers = 2
        c.tokens = .uniform(12)
        c.workload = .gating
        c.capacity.factor = 1.0
        c.steps = 1
        c.warmupSteps = 0
        c.seed = 11
        return c
    }

    /// One step of `config()` on 2 emulated ranks, as gathered for rank 0.
    private func gathered() throws -> (VerificationInput, ExpertLayout) {
        let box = Box(), c = config()
        _ = try EmulatedWorld.run(ranks: 2) { t in
            let stage = try MoERank(config: c, rank: t.rank, worldSize: t.size)
            try stage.step(0, transport: t, timer: PhaseTimer(steps: 1))
            if let input = try Verifier.gather(stage, step: 0, transport: t) {
                box.input = input
                box.layout = stage.layout
            }
        }
        return (try XCTUnwrap(box.input), try XCTUnwrap(box.layout))
    }

    func testUnalteredStepPasses() throws {
        let (input, layout) = try gathered()
        let v = try Verifier.check(input, config: config(), layout: layout)
        XCTAssertTrue(v.passed, v.summary)
        XCTAssertTrue(v.maxRelError.isFinite && v.maxRelError <= 1e-5, v.summary)
        XCTAssertGreaterThan(input.outcome[0].flatMap { $0 }.filter { $0 == Outcome.dropped.rawValue }.count, 0,
                             "the step should drop some slots, so drops are verified too")
    }

    func testPerturbedExpertWeightFails() throws {
        let (input, layout) = try gathered()
        let c = config()
        let used = Int(try XCTUnwrap(input.finalExpert[0][0].first { $0 >= 0 }))
        // The reference's copy of one routed expert of layer 0 differs in one entry of W2.
        let v = try Verifier.check(input, config: c, layout: layout) { layer, expert in
            let w = ExpertWeights(seed: c.seed, layer: layer, expert: expert, model: c.model)
            guard layer == 0 && expert == used else { return w }
            var w2 = w.w2
            w2[5] += 0.05
            return ExpertWeights(hidden: w.hidden, ffn: w.ffn, activation: w.activation, w1: w.w1, w3: w.w3, w2: w2)
        }
        XCTAssertFalse(v.passed, v.summary)
        XCTAssertTrue(v.decisionsMatch, "expert weights do not change routing")
        XCTAssertNil(v.nonFinite)
        XCTAssertGreaterThan(v.maxRelError, 10 * v.tolerance, v.summary)
    }

    func testFlippedRoutingDecisionFails() throws {
        var (input, layout) = try gathered()
        let k = config().model.topK
        let finals = input.finalExpert[1][1]
        let a = try XCTUnwrap(finals.indices.first { finals[$0] >= 0 })
        let token = finals[(a / k * k)..<(a / k * k + k)]
        // Move the slot to an expert its token does not use.
        input.finalExpert[1][1][a] = try XCTUnwrap((0..<Int32(4)).first { !token.contains($0) })
        let v = try Verifier.check(input, config: config(), layout: layout)
        XCTAssertFalse(v.passed, v.summary)
        XCTAssertFalse(v.decisionsMatch)
        XCTAssertEqual(v.firstMismatch, "layer 1 rank 1 token \(a / k) slot \(a % k)")
    }

    func testNaNOrInfinityOnEitherSideFails() throws {
        let (clean, layout) = try gathered()
        let c = config()
        func check(_ alter: (inout VerificationInput) -> Void, expert: Verifier.ExpertSource? = nil) throws -> Verification {
            var input = clean
            alter(&input)
            return try Verifier.check(input, config: c, layout: layout, expertWeights: expert)
        }
        let nanOutput = try check { $0.rows[2][0][5] = .nan }
        XCTAssertFalse(nanOutput.passed)
        XCTAssertEqual(nanOutput.nonFinite, "output of layer 1, rank 0, token 0, element 5 is nan")
        XCTAssertEqual(nanOutput.maxRelError, .infinity)
        XCTAssertTrue(nanOutput.decisionsMatch, "the NaN alone fails it")

        let infInput = try check { $0.rows[0][1][16 + 3] = .infinity }
        XCTAssertFalse(infInput.passed)
        XCTAssertEqual(infInput.nonFinite, "input of layer 0, rank 1, token 1, element 3 is inf")

        // A NaN between the layers fails at layer 0's output, before layer 1 routes on it.
        let middle = try check { $0.rows[1][1][0] = .nan }
        XCTAssertEqual(middle.nonFinite, "output of layer 0, rank 1, token 0, element 0 is nan")

        // The reference side: an expert whose weights hold a NaN.
        let nanWeights = try check({ _ in }) { layer, expert in
            let w = ExpertWeights(seed: c.seed, layer: layer, expert: expert, model: c.model)
            var w2 = w.w2
            w2[0] = .nan
            return ExpertWeights(hidden: w.hidden, ffn: w.ffn, activation: w.activation, w1: w.w1, w3: w.w3, w2: w2)
        }
        XCTAssertFalse(nanWeights.passed)
        let text = nanWeights.nonFinite ?? ""
        XCTAssertTrue(text.hasPrefix("reference output of layer 0, rank 0, token ") && text.hasSuffix("element 0 is nan"),
                      nanWeights.summary)
    }

    /// Without the pre-norm, x + MoE(x) grows doubly exponentially (SwiGLU is quadratic
    /// in its input) and 16 layers overflow to inf/NaN. With it the run stays finite and
    /// verifies with a finite error.
    func testSixteenLayersOfSixtyFourTokensStayFiniteAndVerify() throws {
        var c = config()
        c.model.hidden = 64
        c.model.ffn = 128
        c.model.experts = 8
        c.model.sharedExperts = 0
        c.model.layers = 16
        c.tokens = .uniform(64)
        let v = try XCTUnwrap(try emulatedResult(c, ranks: 2, settings: .init(verify: true)).verification)
        XCTAssertTrue(v.passed, v.summary)
        XCTAssertNil(v.nonFinite)
        XCTAssertTrue(v.maxRelError.isFinite && v.maxRelError <= v.tolerance, v.summary)
        XCTAssertEqual(v.layers, 16)
    }
}
