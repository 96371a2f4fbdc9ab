import XCTest
@testable import EpsimCore

/// The rounds of `scope: global`, driven in one process without any transport: P
/// deciders in lockstep, each round admitting the world's gathered demand.
final class CapacityRoundsTests: XCTestCase {
    func testGlobalRoundsEqualReferenceOnOneToEightRanks() throws {
        var cases = 0, rerouted = 0, dropped = 0
        for p in 1...8 {
            for priority in Priority.allCases {
                for policy in OverflowPolicy.allCases {
                    for seed in 0..<3 {
                        var rng = TestRandom(seed: UInt64(5000 + cases * 31 + seed))
                        var cfg = SimConfig()
                        cfg.model.experts = [8, 12, 16][seed]
                        cfg.model.topK = [1, 2, 4].randomElement(using: &rng)!
                        cfg.capacity.scope = .global
                        cfg.capacity.priority = priority
                        cfg.capacity.factor = [0.5, 0.75, 1.0, 1.25].randomElement(using: &rng)!
                        cfg.capacity.minCapacity = Int.random(in: 0...2, using: &rng)
                        cfg.overflow.policy = policy
                        cfg.overflow.rerouteScope = RerouteScope.allCases.randomElement(using: &rng)!
                        cfg.overflow.renormalize = Bool.random(using: &rng)
                        cfg.overflow.maxReroutes = [nil, 1, 2].randomElement(using: &rng)!
                        cfg.placement = DecisionEquivalenceTests.randomPlacement(
                            experts: cfg.model.experts, ranks: p, kind: seed, rng: &rng)
                        let label = "case \(cases) P=\(p) k=\(cfg.model.topK) \(priority) \(policy) "
                            + "\(cfg.overflow.rerouteScope) renorm=\(cfg.overflow.renormalize)"
                        let out = try checkAgainstReference(cfg, ranks: p, rng: &rng, label: label)
                        rerouted += out.reduce(0) { $0 + $1.rerouted }
                        dropped += out.reduce(0) { $0 + $1.dropped }
                        cases += 1
                    }
                }
            }
        }
        XCTAssertEqual(cases, 8 * 3 * 2 * 3)
        XCTAssertGreaterThan(rerouted, 0, "the sweep must exercise rerouting")
        XCTAssertGreaterThan(dropped, 0, "the sweep must exercise dropping")
    }

    /// Checks one random world against the reference; returns the decisions.
    private func checkAgainstReference(_ cfg: SimConfig, ranks p: Int, rng: inout TestRandom,
                                       label: String) throws -> [RoutingDecisions] {
        let E = cfg.model.experts, k = cfg.model.topK
        let layout = try ExpertLayout(cfg.placement, experts: E, ranks: p)
        func world() -> [RankChoices] {
            (0..<p).map { _ in
                randomChoices(tokens: Int.random(in: 0...40, using: &rng), experts: E, topK: k, rng: &rng)
            }
        }
        let inputs = world()
        let reference = ReferenceDecisions.decide(config: cfg, layout: layout, ranks: inputs)
        // The deciders are reused across steps in a run: decide an unrelated world first,
        // so that anything left over from it (room, demand, rounds) would show.
        let deciders = (0..<p).map { _ in CapacityDecider(config: cfg, layout: layout) }
        _ = worldDecisions(cfg, layout, world(), deciders: deciders)
        let fast = worldDecisions(cfg, layout, inputs, deciders: deciders)
        for r in 0..<p {
            XCTAssertEqual(fast[r].comparable, reference[r].comparable, "\(label) rank \(r)")
            XCTAssertNil(fast[r].invariantViolation(layout: layout, rank: r, perRankCapacity: nil), label)
            XCTAssertEqual(fast[r].exchangeRounds, fast[0].exchangeRounds, "\(label): ranks disagree on rounds")
        }
        if cfg.overflow.policy == .drop { XCTAssertEqual(fast[0].exchangeRounds, 1, label) }
        // No expert holds more than the world's capacity, over all ranks together.
        let total = inputs.reduce(0) { $0 + $1.tokens }
        let capacity = try XCTUnwrap(Capacity.global(cfg.capacity, totalTokens: total, topK: k, experts: E))
        for e in 0..<E {
            let load = fast.reduce(0) { $0 + $1.expertLoad[e] }
            XCTAssertLessThanOrEqual(load, capacity, "\(label): expert \(e)")
        }
        return fast
    }

    func testGrantsGoToRanksInRankOrder() {
        // 3 ranks × 3 experts; room 4, 5 and 0.
        // Each rank computes its own row, walking every rank from the same room.
        var grants: [Int] = []
        for rank in 0..<3 {
            var room = [4, 5, 0]
            var quota = [Int](repeating: -1, count: 3)
            let total = Capacity.grant(worldDemand: [3, 0, 1,
                                                     3, 1, 0,
                                                     2, 9, 2], experts: 3, room: &room, rank: rank, into: &quota)
            XCTAssertEqual(total, 21)
            XCTAssertEqual(room, [0, 0, 0])
            grants += quota
        }
        XCTAssertEqual(grants, [3, 0, 0,
                                1, 1, 0,
                                0, 4, 0])
    }

    /// 3 ranks × 2 top-1 tokens, every first choice expert 0, second expert 1; the world's
    /// C = ceil(6 · 1 / 2) = 3 per expert. The earlier ranks fill expert 0.
    private func crowdedWorld(_ policy: OverflowPolicy) throws -> [RoutingDecisions] {
        var cfg = SimConfig()
        cfg.model.experts = 2
        cfg.model.topK = 1
        cfg.capacity.factor = 1.0
        cfg.capacity.scope = .global
        cfg.overflow.policy = policy
        let layout = try ExpertLayout(cfg.placement, experts: 2, ranks: 3)
        let rank = choices([(pref: [0, 1], weights: [1]), (pref: [0, 1], weights: [1])])
        return worldDecisions(cfg, layout, [rank, rank, rank])
    }

    func testEarlierRanksWinAFullExpert() throws {
        let dropped = try crowdedWorld(.drop)
        XCTAssertEqual(dropped.map { $0.outcome.map(\.description) },
                       [["accepted", "accepted"], ["accepted", "dropped"], ["dropped", "dropped"]])
        XCTAssertEqual(dropped.map(\.capacity), [3, 3, 3])
        XCTAssertEqual(dropped.map(\.exchangeRounds), [1, 1, 1])

        // Rerouted, the three that found expert 0 full fill expert 1, again by rank:
        // one exchange for first choices, one for the reroutes, one finding no demand.
        let rerouted = try crowdedWorld(.reroute)
        XCTAssertEqual(rerouted.map { $0.finalExpert.map(Int.init) }, [[0, 0], [0, 1], [1, 1]])
        XCTAssertEqual(rerouted.map(\.rerouted), [0, 1, 2])
        XCTAssertEqual(rerouted.map(\.exchangeRounds), [3, 3, 3])
    }

    /// One rank: global scope decides what local scope decides, in explicit rounds.
    func testOneRankRoundByRound() throws {
        var cfg = SimConfig()
        cfg.model.experts = 4
        cfg.model.topK = 1
        cfg.capacity.factor = 1.0
        cfg.overflow.policy = .reroute
        let layout = try ExpertLayout(cfg.placement, experts: 4, ranks: 1)
        // First-choice loads 7/2/1/0 against C = 3; every token's next preference is 3.
        let firsts = [0, 0, 0, 0, 0, 0, 0, 1, 1, 2]
        let input = choices(firsts.map { f in (pref: [f] + [3, 1, 2, 0].filter { $0 != f }, weights: [1]) })

        let local = CapacityDecider(config: cfg, layout: layout)
        begin(local, rank: 0, input, totalTokens: 10)
        XCTAssertTrue(local.isFinished, "local scope needs no rounds from outside")
        XCTAssertEqual(local.demand, [0, 0, 0, 0])
        var localOut = RoutingDecisions()
        local.finish(into: &localOut)
        XCTAssertEqual(localOut.exchangeRounds, 0)

        cfg.capacity.scope = .global
        let global = CapacityDecider(config: cfg, layout: layout)
        begin(global, rank: 0, input, totalTokens: 10)
        // Each round: this rank's demand, then its admission.
        var demands: [[Int64]] = []
        while !global.isFinished {
            demands.append(global.demand)
            input.preference.withUnsafeBufferPointer { global.admit(worldDemand: global.demand, preference: $0) }
        }
        // 3 of the 4 overflowing tokens reroute to expert 3, the fourth on to expert 1.
        XCTAssertEqual(demands, [[7, 2, 1, 0], [0, 0, 0, 4], [0, 1, 0, 0], [0, 0, 0, 0]])
        var globalOut = RoutingDecisions()
        global.finish(into: &globalOut)
        XCTAssertEqual(globalOut.exchangeRounds, 4)
        XCTAssertEqual(globalOut.finalExpert.map(Int.init), [0, 0, 0, 3, 3, 3, 1, 1, 1, 2])
        XCTAssertEqual(globalOut.comparable, localOut.comparable)
    }
}
