import XCTest
@testable import EpsimCore

/// The shortcuts of `DecisionPass` against the reference, on batches large enough for
/// them to matter: round 0 with no full expert (no priority order at all), the full
/// experts of `drop` + `score` ranked by selection rather than a sort, and destinations
/// from the per-expert table of a rank's copies (with replicas off the source rank, where
/// the copy depends on the token). One decider serves every rank and step in turn, with
/// batches that grow and shrink, so nothing may survive from an earlier rank or step.
final class CapacityFastPathTests: XCTestCase {
    /// How the weights of a batch are drawn.
    enum WeightKind: CaseIterable {
        /// Continuous weights: almost no ties.
        case continuous
        /// Eight levels: many ties, broken by token and slot.
        case tied
        /// Only ±0 and ±1: −0 must tie +0.
        case signedZeros
    }

    /// Router-like output: preferences skewed by `skew` toward the experts early in
    /// `popularity` (a permutation of the experts: any of them may be the one that
    /// overflows), weights of the given kind.
    static func batch(tokens: Int, experts: Int, topK: Int, skew: Double, popularity: [Int],
                      weights kind: WeightKind, rng: inout TestRandom) -> RankChoices {
        var pref: [Int32] = [], chosen: [Int32] = [], weights: [Float] = []
        var place = [Int](repeating: 0, count: experts)
        for (i, e) in popularity.enumerated() { place[e] = i }
        for _ in 0..<tokens {
            let keys = (0..<experts).map { e in Double.random(in: 0..<1, using: &rng) / pow(Double(place[e] + 1), skew) }
            let order = (0..<experts).sorted { keys[$0] > keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
            pref += order.map(Int32.init)
            chosen += order.prefix(topK).map(Int32.init)
            for _ in 0..<topK {
                switch kind {
                case .continuous: weights.append(Float.random(in: 0..<1, using: &rng))
                case .tied: weights.append(Float(Int.random(in: 1...8, using: &rng)) / 8)
                case .signedZeros: weights.append([0, -0.0, 1, -1].randomElement(using: &rng)!)
                }
            }
        }
        return RankChoices(tokens: tokens, preference: pref, chosen: chosen, weights: weights)
    }

    /// Contiguous placement plus replicas of the two hottest experts on ranks that do not
    /// hold them, so that some ranks send their work for them to one of several copies.
    static func replicated(experts: Int, ranks: Int, rng: inout TestRandom) -> PlacementConfig {
        var p = PlacementConfig()
        guard ranks > 1 else { return p }
        p.replicas = [.init(expert: 0, ranks: Array(Array(1..<ranks).shuffled(using: &rng).prefix(2)).sorted()),
                      .init(expert: 1, ranks: [ranks - 1])]
        return p
    }

    func testFastPathEqualsReferenceOnLargeBatches() throws {
        var cases = 0, full = 0, drops = 0, reroutes = 0
        for scope in CapacityScope.allCases {
            for priority in Priority.allCases {
                for policy in OverflowPolicy.allCases {
                    for rerouteScope in RerouteScope.allCases {
                        for weights in WeightKind.allCases {
                            var rng = TestRandom(seed: UInt64(90_000 + cases))
                            var cfg = SimConfig()
                            cfg.model.experts = [8, 16, 64].randomElement(using: &rng)!
                            cfg.model.topK = [1, 2, 8].randomElement(using: &rng)!
                            cfg.capacity.scope = scope
                            cfg.capacity.priority = priority
                            cfg.capacity.factor = [0.5, 1.0, 1.25, 2.0, 4.0, nil].randomElement(using: &rng)!
                            cfg.capacity.minCapacity = Int.random(in: 0...3, using: &rng)
                            cfg.overflow.policy = policy
                            cfg.overflow.rerouteScope = rerouteScope
                            cfg.overflow.renormalize = Bool.random(using: &rng)
                            cfg.overflow.maxReroutes = [nil, 1, 3].randomElement(using: &rng)!
                            let p = [1, 2, 3, 4].randomElement(using: &rng)!
                            cfg.placement = Self.replicated(experts: cfg.model.experts, ranks: p, rng: &rng)
                            let label = "case \(cases) P=\(p) E=\(cfg.model.experts) k=\(cfg.model.topK) "
                                + "cf=\(String(describing: cfg.capacity.factor)) \(scope) \(priority) \(policy) "
                                + "\(rerouteScope) \(weights) renorm=\(cfg.overflow.renormalize)"
                            let out = try checkSteps(cfg, ranks: p, weights: weights, rng: &rng, label: label)
                            full += out.full ? 1 : 0
                            drops += out.dropped
                            reroutes += out.rerouted
                            cases += 1
                        }
                    }
                }
            }
        }
        XCTAssertEqual(cases, 2 * 3 * 2 * 3 * 3)
        // The sweep reaches every branch of round 0: full experts and none, drops, reroutes.
        XCTAssertGreaterThan(full, cases / 4)
        XCTAssertLessThan(full, cases)
        XCTAssertGreaterThan(drops, 0)
        XCTAssertGreaterThan(reroutes, 0)
    }

    /// Three steps of one world, with batch sizes drawn afresh (up to 300 tokens per
    /// rank) and the same deciders throughout; returns whether any step had an expert
    /// offered more than its room, and the drops and reroutes over all steps.
    private func checkSteps(_ cfg: SimConfig, ranks p: Int, weights: WeightKind, rng: inout TestRandom,
                            label: String) throws -> (full: Bool, dropped: Int, rerouted: Int) {
        let E = cfg.model.experts, k = cfg.model.topK
        let layout = try ExpertLayout(cfg.placement, experts: E, ranks: p)
        let shared = CapacityDecider(config: cfg, layout: layout)
        let perRank = (0..<p).map { _ in CapacityDecider(config: cfg, layout: layout) }
        var kept = (0..<p).map { _ in RoutingDecisions() }
        var full = false, dropped = 0, rerouted = 0
        for step in 0..<3 {
            let skew = Double.random(in: 0...2, using: &rng)
            let popularity = (0..<E).shuffled(using: &rng)
            let inputs = (0..<p).map { _ in
                Self.batch(tokens: [0, 1, 5, 40, 150, 300].randomElement(using: &rng)!, experts: E, topK: k,
                           skew: skew, popularity: popularity, weights: weights, rng: &rng)
            }
            let reference = ReferenceDecisions.decide(config: cfg, layout: layout, ranks: inputs)
            let fast: [RoutingDecisions]
            if cfg.capacity.scope == .global && cfg.capacity.factor != nil {
                fast = worldDecisions(cfg, layout, inputs, deciders: perRank)
            } else {
                let total = inputs.reduce(0) { $0 + $1.tokens }
                fast = (0..<p).map { r in
                    fastDecisions(cfg, layout, rank: r, inputs[r], totalTokens: total, reusing: kept[r],
                                  decider: shared)
                }
            }
            for r in 0..<p {
                XCTAssertEqual(fast[r].comparable, reference[r].comparable, "\(label) step \(step) rank \(r)")
                XCTAssertNil(fast[r].invariantViolation(layout: layout, rank: r, perRankCapacity: nil), label)
                let c = fast[r].capacity ?? Int.max
                var offers = [Int](repeating: 0, count: E)
                for e in inputs[r].chosen { offers[Int(e)] += 1 }
                if offers.contains(where: { $0 > c }) { full = true }
                dropped += fast[r].dropped
                rerouted += fast[r].rerouted
            }
            kept = fast
        }
        return (full, dropped, rerouted)
    }

    /// `moveSmallest` against a sort, for every count, on orders that defeat a naive
    /// pivot (sorted, reversed, organ pipe) and on random keys, with the fallback to a
    /// merge sort forced (depth limit 0) and not.
    func testMoveSmallestKeepsExactlyTheSmallest() {
        var rng = TestRandom(seed: 31)
        for n in [0, 1, 2, 3, 16, 17, 40, 257] {
            let ascending = (0..<UInt64(n)).map { $0 * 3 + 1 }
            let shapes: [[UInt64]] = [
                ascending, ascending.reversed(),
                ascending.enumerated().map { $0.offset % 2 == 0 ? $0.element : UInt64(4 * n) - $0.element },
                ascending.shuffled(using: &rng),
                (0..<n).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) },
            ]
            for keys in shapes where Set(keys).count == n {
                let sorted = keys.sorted()
                for count in 0...n {
                    for depthLimit in [nil, 0] {
                        var work = keys, scratch = [UInt64](repeating: 0, count: n)
                        work.withUnsafeMutableBufferPointer { w in
                            scratch.withUnsafeMutableBufferPointer { s in
                                Capacity.moveSmallest(count, toFrontOf: w, scratch: s, depthLimit: depthLimit)
                            }
                        }
                        let label = "n \(n) count \(count) depth \(String(describing: depthLimit))"
                        XCTAssertEqual(work.prefix(count).sorted(), Array(sorted.prefix(count)), label)
                        XCTAssertEqual(work.sorted(), sorted, label)
                    }
                }
            }
        }
    }
}
