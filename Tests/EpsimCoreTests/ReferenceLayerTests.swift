import XCTest
@testable import EpsimCore

/// The dense reference layer (`ReferenceLayer`) against hand computations through
/// `ExpertReference`.
final class ReferenceLayerTests: XCTestCase {
    private func model(experts: Int) -> ModelConfig {
        var m = ModelConfig()
        m.hidden = 8
        m.ffn = 16
        m.experts = experts
        return m
    }

    /// Decisions for one token: slot j goes to `finals[j]` (-1: dropped) with `weights[j]`.
    private func oneToken(_ finals: [Int32], _ weights: [Float], experts: Int) -> RoutingDecisions {
        var d = RoutingDecisions()
        d.reset(tokens: 1, topK: finals.count, experts: experts)
        d.finalExpert = finals
        d.outcome = finals.map { $0 < 0 ? .dropped : .accepted }
        d.weight = weights
        return d
    }

    private func routed(_ m: ModelConfig) -> [ExpertWeights] {
        (0..<m.experts).map { ExpertWeights(seed: 3, layer: 0, expert: $0, model: m) }
    }

    func testOneExpertOneTokenEqualsExpertReference() {
        let m = model(experts: 1)
        let row = TokenInputs.make(seed: 5, step: 0, rank: 0, tokens: 1, hidden: 8)
        let experts = ReferenceLayer.Experts(routed: routed(m), shared: [])
        let moe = ReferenceLayer.contribution(normed: row, hidden: 8, decisions: oneToken([0], [0.5], experts: 1),
                                              experts: experts, precision: PrecisionConfig())
        let ffn = ExpertReference.apply(experts.routed[0], token: row[...])
        XCTAssertEqual(moe, ffn.map { 0.5 * $0 })
        XCTAssertTrue(moe.contains { $0 != 0 })

        // A shared expert is added first, for every token.
        let shared = ExpertWeights(seed: 3, layer: 0, shared: 0, model: m)
        let withShared = ReferenceLayer.contribution(
            normed: row, hidden: 8, decisions: oneToken([0], [0.5], experts: 1),
            experts: .init(routed: experts.routed, shared: [shared]), precision: PrecisionConfig())
        let s = ExpertReference.apply(shared, token: row[...])
        XCTAssertEqual(withShared, (0..<8).map { s[$0] + 0.5 * ffn[$0] })

        // A bf16 dispatch: the expert sees the row as bf16 rounds it.
        var bf16 = PrecisionConfig()
        bf16.dispatch = .bf16
        let sent = ReferenceLayer.wireRoundTrip(.bf16, row)
        XCTAssertNotEqual(sent, row)
        let rounded = ReferenceLayer.contribution(normed: row, hidden: 8, decisions: oneToken([0], [0.5], experts: 1),
                                                  experts: experts, precision: bf16)
        XCTAssertEqual(rounded, ExpertReference.apply(experts.routed[0], token: sent[...]).map { 0.5 * $0 })
    }

    /// With `dispatch.dedup: rank` and a rounding combine, the slots on one rank come
    /// back as one row: their weighted sum, rounded once; slots on other ranks apart.
    func testDedupRoundsTheWeightedSumPerDestinationRank() {
        let m = model(experts: 3)
        let row = TokenInputs.make(seed: 8, step: 0, rank: 0, tokens: 1, hidden: 8)
        let experts = ReferenceLayer.Experts(routed: routed(m), shared: [])
        var d = oneToken([0, 2, 1], [0.5, 0.3, 0.2], experts: 3)
        d.destRank = [1, 1, 0]   // experts 0 and 2 on rank 1, expert 1 on rank 0
        var bf16 = PrecisionConfig()
        bf16.combine = .bf16
        let out = (0..<3).map { ExpertReference.apply(experts.routed[$0], token: row[...]) }
        func round(_ v: [Double]) -> [Double] { ReferenceLayer.wireRoundTrip(.bf16, v.map { Float($0) }).map { Double($0) } }
        let w = d.weight.map { Double($0) }
        let onRank1 = round((0..<8).map { w[0] * out[0][$0] + w[1] * out[2][$0] })
        let onRank0 = round((0..<8).map { w[2] * out[1][$0] })
        let deduplicated = ReferenceLayer.contribution(normed: row, hidden: 8, decisions: d, experts: experts,
                                                       precision: bf16, dedup: .rank)
        XCTAssertEqual(deduplicated, (0..<8).map { onRank1[$0] + onRank0[$0] })
        // Without dedup each output is rounded before it is weighted: another function
        // of the same rounding, and in fp32 both are the same sum.
        let plain = ReferenceLayer.contribution(normed: row, hidden: 8, decisions: d, experts: experts, precision: bf16)
        XCTAssertEqual(plain, (0..<8).map { h in
            w[0] * round(out[0])[h] + w[1] * round(out[2])[h] + w[2] * round(out[1])[h]
        })
        XCTAssertNotEqual(plain, deduplicated)
        let fp32 = (ReferenceLayer.contribution(normed: row, hidden: 8, decisions: d, experts: experts, precision: PrecisionConfig()),
                    ReferenceLayer.contribution(normed: row, hidden: 8, decisions: d, experts: experts, precision: PrecisionConfig(), dedup: .rank))
        for h in 0..<8 { XCTAssertEqual(fp32.0[h], fp32.1[h], accuracy: 1e-12 * max(1, abs(fp32.0[h]))) }
    }

    func testDroppedSlotContributesNothing() {
        let m = model(experts: 3)
        let row = TokenInputs.make(seed: 6, step: 0, rank: 0, tokens: 1, hidden: 8)
        let experts = ReferenceLayer.Experts(routed: routed(m), shared: [])
        func moe(_ finals: [Int32], _ weights: [Float]) -> [Double] {
            ReferenceLayer.contribution(normed: row, hidden: 8, decisions: oneToken(finals, weights, experts: 3),
                                        experts: experts, precision: PrecisionConfig())
        }
        let first = ExpertReference.apply(experts.routed[1], token: row[...])
        // Slot 1 dropped: only slot 0's expert counts.
        XCTAssertEqual(moe([1, -1], [0.6, 0]), first.map { Double(Float(0.6)) * $0 })
        XCTAssertNotEqual(moe([1, 2], [0.6, 0.4]), moe([1, -1], [0.6, 0]))
        // Every slot dropped: nothing at all.
        XCTAssertEqual(moe([-1, -1], [0, 0]), [Double](repeating: 0, count: 8))
    }

    /// The whole layer on two ranks: decisions are `ReferenceDecisions` on the reference
    /// router's choices for RMSNorm(x); without experts (modeled compute) y is x itself.
    func testForwardRoutesNormedRowsAndAddsTheResidual() throws {
        var c = SimConfig()
        c.model = model(experts: 4)
        c.model.topK = 2
        c.tokens = .uniform(6)
        c.workload = .gating
        c.capacity.factor = 0.75
        c.seed = 21
        let layout = try ExpertLayout(c.placement, experts: 4, ranks: 2)
        let router = try ReferenceRouter(config: c, worldSize: 2)
        let x = (0..<2).map { TokenInputs.make(seed: 21, step: 0, rank: $0, tokens: 6, hidden: 8) }

        let routes = try (0..<2).map { r in
            try router.route(step: 0, rank: r, layer: 0, inputs: RMSNorm.apply(x[r], hidden: 8))
        }
        let expected = ReferenceDecisions.decide(config: c, layout: layout, ranks: routes.map {
            RankChoices(tokens: $0.tokens, preference: $0.preference, chosen: $0.chosen, weights: $0.weights)
        })
        let real = try ReferenceLayer.forward(x: x, step: 0, layer: 0, config: c, layout: layout, router: router,
                                              experts: .init(config: c, layer: 0))
        XCTAssertEqual(real.decisions, expected)
        XCTAssertGreaterThan(expected.reduce(0) { $0 + $1.dropped }, 0, "the case should drop slots")
        for r in 0..<2 {
            XCTAssertEqual(real.y[r], (0..<(6 * 8)).map { Double(x[r][$0]) + real.moe[r][$0] })
            XCTAssertTrue(real.moe[r].contains { $0 != 0 })
        }

        c.compute = .modeled(tflops: 100, efficiency: 0.5)
        let modeled = try ReferenceLayer.forward(x: x, step: 0, layer: 0, config: c, layout: layout, router: router,
                                                 experts: .init(config: c, layer: 0))
        XCTAssertEqual(modeled.decisions, expected)
        XCTAssertEqual(modeled.y, x.map { $0.map(Double.init) })
        XCTAssertEqual(modeled.moe, x.map { [Double](repeating: 0, count: $0.count) })
    }
}
