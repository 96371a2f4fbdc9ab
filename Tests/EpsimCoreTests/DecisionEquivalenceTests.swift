import XCTest
@testable import EpsimCore

/// The fast capacity/overflow path against the sequential reference, over many seeds
/// and every combination of the options that change decisions, with local scope (the
/// rounds of the global scope are in CapacityRoundsTests).
final class DecisionEquivalenceTests: XCTestCase {
    static let rankCounts = [1, 2, 3, 4, 8]

    /// A random layout of `experts` on `ranks`: contiguous, a permuted explicit list, or
    /// contiguous plus replicas of the most popular experts.
    static func randomPlacement(experts: Int, ranks: Int, kind: Int, rng: inout TestRandom) -> PlacementConfig {
        var p = PlacementConfig()
        switch kind {
        case 0: break
        case 1:
            let perm = (0..<experts).shuffled(using: &rng)
            var lists = [[Int]](repeating: [], count: ranks)
            for (i, e) in perm.enumerated() { lists[i % ranks].append(e) }
            p.base = .explicit(lists)
        default:
            p.replicas = [.init(expert: 0, ranks: Array(0..<ranks).shuffled(using: &rng).prefix(2).sorted()),
                          .init(expert: 1, ranks: [ranks - 1])]
        }
        return p
    }

    func testFastPathEqualsReferenceOverManySeeds() throws {
        var cases = 0
        for topK in [1, 2, 4, 8] {
            for priority in Priority.allCases {
                for policy in OverflowPolicy.allCases {
                    for scope in RerouteScope.allCases {
                        for renormalize in [false, true] {
                            for seed in 0..<3 {
                                var rng = TestRandom(seed: UInt64(cases * 7919 + seed))
                                var cfg = SimConfig()
                                cfg.model.experts = [8, 12, 16][seed]
                                cfg.model.topK = topK
                                cfg.capacity.priority = priority
                                cfg.capacity.factor = [0.5, 1.0, 1.25, nil].randomElement(using: &rng)!
                                cfg.capacity.minCapacity = Int.random(in: 0...2, using: &rng)
                                cfg.overflow.policy = policy
                                cfg.overflow.rerouteScope = scope
                                cfg.overflow.renormalize = renormalize
                                cfg.overflow.maxReroutes = [nil, 1, 2].randomElement(using: &rng)!
                                let p = Self.rankCounts.randomElement(using: &rng)!
                                cfg.placement = Self.randomPlacement(
                                    experts: cfg.model.experts, ranks: p, kind: seed, rng: &rng)
                                try checkAgainstReference(cfg, ranks: p, rng: &rng,
                                                          label: "case \(cases) P=\(p) k=\(topK) \(priority) \(policy) \(scope) renorm=\(renormalize)")
                                cases += 1
                            }
                        }
                    }
                }
            }
        }
        XCTAssertEqual(cases, 4 * 3 * 2 * 3 * 2 * 3)
    }

    private func checkAgainstReference(_ cfg: SimConfig, ranks p: Int, rng: inout TestRandom, label: String) throws {
        let layout = try ExpertLayout(cfg.placement, experts: cfg.model.experts, ranks: p)
        let inputs = (0..<p).map { _ in
            randomChoices(tokens: Int.random(in: 0...40, using: &rng), experts: cfg.model.experts,
                          topK: cfg.model.topK, rng: &rng)
        }
        let reference = ReferenceDecisions.decide(config: cfg, layout: layout, ranks: inputs)
        for r in 0..<p {
            // The decider and the decisions are reused across steps in a run: decide an
            // unrelated batch first, so that anything left over from it would show.
            let decider = CapacityDecider(config: cfg, layout: layout)
            let earlier = randomChoices(tokens: inputs[r].tokens, experts: cfg.model.experts,
                                        topK: cfg.model.topK, rng: &rng)
            let previous = fastDecisions(cfg, layout, rank: r, earlier, decider: decider)
            let fast = fastDecisions(cfg, layout, rank: r, inputs[r], reusing: previous, decider: decider)
            XCTAssertEqual(fast.comparable, reference[r].comparable, "\(label) rank \(r)")
            let c = Capacity.local(cfg.capacity, tokens: inputs[r].tokens, topK: cfg.model.topK,
                                   experts: cfg.model.experts)
            XCTAssertNil(fast.invariantViolation(layout: layout, rank: r, perRankCapacity: c), label)
            if cfg.overflow.policy == .drop { XCTAssertEqual(fast.rerouted, 0, label) }
        }
    }

    /// With reroute_scope any, placement decides where work runs, never what is kept.
    func testDecisionsDoNotDependOnPlacement() throws {
        for seed in 0..<40 {
            var rng = TestRandom(seed: 1000 + UInt64(seed))
            var cfg = SimConfig()
            cfg.model.experts = 8
            cfg.model.topK = [1, 2, 4][seed % 3]
            cfg.capacity.factor = 1.0
            cfg.capacity.priority = Priority.allCases[seed % 3]
            cfg.overflow.policy = seed % 2 == 0 ? .reroute : .drop
            let p = 4
            let inputs = (0..<p).map { _ in
                randomChoices(tokens: 32, experts: 8, topK: cfg.model.topK, rng: &rng)
            }
            var results: [[RoutingDecisions]] = []
            for kind in 0..<3 {
                cfg.placement = Self.randomPlacement(experts: 8, ranks: p, kind: kind, rng: &rng)
                let layout = try ExpertLayout(cfg.placement, experts: 8, ranks: p)
                results.append((0..<p).map { fastDecisions(cfg, layout, rank: $0, inputs[$0]) })
            }
            for kind in 1..<3 {
                for r in 0..<p {
                    XCTAssertEqual(results[kind][r].finalExpert, results[0][r].finalExpert, "seed \(seed)")
                    XCTAssertEqual(results[kind][r].outcome, results[0][r].outcome, "seed \(seed)")
                    XCTAssertEqual(results[kind][r].weight, results[0][r].weight, "seed \(seed)")
                }
            }
            // The replicated layout really did move work (copies exist and are used).
            XCTAssertTrue(try ExpertLayout(cfg.placement, experts: 8, ranks: p).isReplicated)
        }
    }

    func testRerouteScopesKeepTrafficWhereTheySay() throws {
        var rng = TestRandom(seed: 77)
        for scope in [RerouteScope.sameRank, .sourceRank] {
            var cfg = SimConfig()
            cfg.model.experts = 8
            cfg.model.topK = 2
            cfg.capacity.factor = 1.0
            cfg.overflow.policy = .reroute
            cfg.overflow.rerouteScope = scope
            let layout = try ExpertLayout(cfg.placement, experts: 8, ranks: 2)
            var moved = 0
            for r in 0..<2 {
                let input = randomChoices(tokens: 64, experts: 8, topK: 2, rng: &rng)
                let out = fastDecisions(cfg, layout, rank: r, input)
                moved += out.rerouted
                for a in 0..<out.assignments where out.outcome[a] == .rerouted {
                    let original = layout.copy(of: Int(input.chosen[a]), sourceRank: r, token: a / 2).rank
                    let expected = scope == .sameRank ? original : r
                    XCTAssertEqual(Int(out.destRank[a]), expected, "\(scope) slot \(a)")
                }
            }
            XCTAssertGreaterThan(moved, 0, "\(scope): the case must exercise rerouting")
        }
    }
}
