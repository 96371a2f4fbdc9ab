import XCTest
@testable import EpsimCore

/// `RoutingDecisions.bufferPosition` and `rerouteRound`: every path of the decision
/// (everything fits, the full experts of `drop` + `score`, the whole priority order,
/// reroute rounds, global scope) against a plain numbering, DeepSpeed's `locations`
/// formulas, and hand-worked rounds.
final class BufferPositionTests: XCTestCase {
    /// The plain definition: per expert, the kept slots sorted by (round, slot, token)
    /// with `slot_position`, by (round, token) otherwise; a slot's position is its index.
    static func plainPositions(_ d: RoutingDecisions, slotMajor: Bool) -> [Int32] {
        let k = d.topK
        var out = [Int32](repeating: -1, count: d.assignments)
        for e in 0..<d.experts {
            let kept = (0..<d.assignments).filter { Int(d.finalExpert[$0]) == e }.sorted { a, b in
                let ka = (Int(d.rerouteRound[a]), slotMajor ? a % k : a / k, slotMajor ? a / k : a % k)
                let kb = (Int(d.rerouteRound[b]), slotMajor ? b % k : b / k, slotMajor ? b / k : b % k)
                return ka < kb
            }
            for (i, a) in kept.enumerated() { out[a] = Int32(i) }
        }
        return out
    }

    func testPositionsFollowThePlainNumberingOnEveryPath() throws {
        var cases = 0, rerouted = 0, dropped = 0
        for scope in CapacityScope.allCases {
            for priority in Priority.allCases {
                for policy in OverflowPolicy.allCases {
                    for factor in [0.5, 1.0, 4.0, nil] as [Double?] {
                        var rng = TestRandom(seed: UInt64(7_000 + cases))
                        var cfg = SimConfig()
                        cfg.model.experts = [4, 8, 16].randomElement(using: &rng)!
                        cfg.model.topK = [1, 2, 3].randomElement(using: &rng)!
                        cfg.capacity.scope = scope
                        cfg.capacity.priority = priority
                        cfg.capacity.factor = factor
                        cfg.overflow.policy = policy
                        cfg.overflow.maxReroutes = [nil, 1].randomElement(using: &rng)!
                        let p = [1, 2, 3].randomElement(using: &rng)!
                        let layout = try ExpertLayout(cfg.placement, experts: cfg.model.experts, ranks: p)
                        let inputs = (0..<p).map { _ in
                            randomChoices(tokens: Int.random(in: 1...120, using: &rng), experts: cfg.model.experts,
                                          topK: cfg.model.topK, rng: &rng)
                        }
                        let label = "case \(cases) P=\(p) E=\(cfg.model.experts) k=\(cfg.model.topK) "
                            + "cf=\(String(describing: factor)) \(scope) \(priority) \(policy)"
                        for (r, d) in worldDecisions(cfg, layout, inputs).enumerated() {
                            XCTAssertEqual(d.bufferPosition, Self.plainPositions(d, slotMajor: priority == .slotPosition),
                                           "\(label) rank \(r)")
                            let perRank = scope == .local ? d.capacity : nil
                            XCTAssertNil(d.invariantViolation(layout: layout, rank: r, perRankCapacity: perRank),
                                         "\(label) rank \(r)")
                            rerouted += d.rerouted
                            dropped += d.dropped
                        }
                        cases += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(rerouted, 0)
        XCTAssertGreaterThan(dropped, 0)
    }

    /// DeepSpeed's top-2 gate (`slot_position`, `drop`): locations1 = cumsum(mask1) − 1
    /// over tokens, locations2 = cumsum(mask2) − 1 + Σ mask1, kept where below C.
    func testSlotPositionMatchesDeepSpeedTop2Locations() throws {
        for seed in 0..<40 {
            var rng = TestRandom(seed: UInt64(500 + seed))
            var cfg = SimConfig()
            cfg.model.experts = 8
            cfg.model.topK = 2
            cfg.capacity.priority = .slotPosition
            cfg.capacity.factor = [0.5, 1.0, 1.5].randomElement(using: &rng)!
            let layout = try ExpertLayout(cfg.placement, experts: 8, ranks: 1)
            let c = randomChoices(tokens: Int.random(in: 4...200, using: &rng), experts: 8, topK: 2, rng: &rng)
            let d = fastDecisions(cfg, layout, rank: 0, c)
            let C = try XCTUnwrap(d.capacity)
            var firstCount = [Int](repeating: 0, count: 8)
            for t in 0..<c.tokens { firstCount[Int(c.chosen[2 * t])] += 1 }
            var cum1 = [Int](repeating: 0, count: 8), cum2 = [Int](repeating: 0, count: 8)
            for t in 0..<c.tokens {
                let e1 = Int(c.chosen[2 * t]), e2 = Int(c.chosen[2 * t + 1])
                let loc1 = cum1[e1], loc2 = cum2[e2] + firstCount[e2]
                cum1[e1] += 1
                cum2[e2] += 1
                XCTAssertEqual(d.bufferPosition[2 * t], loc1 < C ? Int32(loc1) : -1, "seed \(seed) token \(t) slot 0")
                XCTAssertEqual(d.bufferPosition[2 * t + 1], loc2 < C ? Int32(loc2) : -1, "seed \(seed) token \(t) slot 1")
            }
        }
    }

    /// DeepSpeed's top-k gate and Megatron-Core (`score`, `drop`): the capacity keeps the
    /// best weights, and the kept slots of an expert are numbered in token order
    /// (locations = cumsum over tokens of the kept mask − 1), not by weight.
    func testScorePriorityNumbersKeptSlotsInTokenOrder() throws {
        var cfg = SimConfig()
        cfg.model.experts = 2
        cfg.model.topK = 1
        cfg.capacity.priority = .score
        cfg.capacity.factor = 1.0  // C = ceil(4 · 1 / 2) = 2
        let layout = try ExpertLayout(cfg.placement, experts: 2, ranks: 1)
        // Every token prefers expert 0; weights 0.1, 0.9, 0.5, 0.7: tokens 1 and 3 are kept.
        let c = choices([([0, 1], [0.1]), ([0, 1], [0.9]), ([0, 1], [0.5]), ([0, 1], [0.7])])
        let d = fastDecisions(cfg, layout, rank: 0, c)
        XCTAssertEqual(d.finalExpert, [-1, 0, -1, 0])
        XCTAssertEqual(d.bufferPosition, [-1, 0, -1, 1])
        XCTAssertEqual(d.rerouteRound, [-1, 0, -1, 0])
    }

    /// Capacity 1 at each of three experts, three tokens that all prefer 0, then 1, then 2:
    /// token 0 is kept in round 0, token 1 at expert 1 in round 1, token 2 at expert 2 in
    /// round 2 (expert 1 filled in round 1); each is the first in its expert's buffer.
    func testRerouteRoundsAndPositionsByHand() throws {
        var cfg = SimConfig()
        cfg.model.experts = 3
        cfg.model.topK = 1
        cfg.capacity.priority = .position
        cfg.capacity.factor = 1.0  // C = ceil(3 · 1 / 3) = 1
        cfg.overflow.policy = .reroute
        let layout = try ExpertLayout(cfg.placement, experts: 3, ranks: 1)
        let c = choices([([0, 1, 2], [1]), ([0, 1, 2], [1]), ([0, 1, 2], [1])])
        let d = fastDecisions(cfg, layout, rank: 0, c)
        XCTAssertEqual(d.finalExpert, [0, 1, 2])
        XCTAssertEqual(d.outcome, [.accepted, .rerouted, .rerouted])
        XCTAssertEqual(d.rerouteRound, [0, 1, 2])
        XCTAssertEqual(d.bufferPosition, [0, 0, 0])
        // Two experts with room for two (T = 4, k = 1, cf 1): tokens 0–2 prefer expert 0,
        // token 3 expert 1. Token 2 is rerouted to expert 1 in round 1 and goes after token
        // 3, kept there in round 0, although token 2 comes first.
        cfg.model.experts = 2
        let two = try ExpertLayout(cfg.placement, experts: 2, ranks: 1)
        let d2 = fastDecisions(cfg, two, rank: 0, choices([([0, 1], [1]), ([0, 1], [1]), ([0, 1], [1]), ([1, 0], [1])]))
        XCTAssertEqual(d2.capacity, 2)
        XCTAssertEqual(d2.finalExpert, [0, 0, 1, 1])
        XCTAssertEqual(d2.rerouteRound, [0, 0, 1, 0])
        XCTAssertEqual(d2.bufferPosition, [0, 1, 1, 0])
    }

    /// Reused decisions and deciders: positions and rounds of an earlier, larger step
    /// do not survive into a smaller one.
    func testNothingSurvivesFromAnEarlierStep() throws {
        var cfg = SimConfig()
        cfg.model.experts = 4
        cfg.model.topK = 2
        cfg.capacity.factor = 0.5
        cfg.overflow.policy = .reroute
        let layout = try ExpertLayout(cfg.placement, experts: 4, ranks: 1)
        let decider = CapacityDecider(config: cfg, layout: layout)
        var rng = TestRandom(seed: 42)
        var previous = RoutingDecisions()
        for tokens in [100, 100, 7, 100] {
            let c = randomChoices(tokens: tokens, experts: 4, topK: 2, rng: &rng)
            previous = fastDecisions(cfg, layout, rank: 0, c, reusing: previous, decider: decider)
            XCTAssertEqual(previous.bufferPosition, Self.plainPositions(previous, slotMajor: false))
            XCTAssertNil(previous.invariantViolation(layout: layout, rank: 0, perRankCapacity: previous.capacity))
        }
    }
}
