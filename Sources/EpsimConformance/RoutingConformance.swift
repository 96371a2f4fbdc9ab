import EpsimCore
import EpsimRuntime

/// The distributed decision path (`CapacityDecider` on every rank, exchanging demand
/// through the transport for `scope: global`) against the sequential reference, run
/// collectively on any transport and world size.
public enum RoutingConformance {
    /// One check per (top_k, scope), each sweeping every priority, policy, reroute
    /// scope and renormalization over several seeds.
    public static let checks: [ConformanceCheck] = [1, 2, 4, 8].flatMap { k in
        CapacityScope.allCases.map { scope in
            ConformanceCheck("decisions equal the reference: top_k \(k), \(scope.rawValue) scope") { t in
                try sweep(t, topK: k, scope: scope)
            }
        }
    }

    static func sweep(_ t: any Transport, topK: Int, scope: CapacityScope) throws {
        var case_ = 0
        for priority in Priority.allCases {
            for policy in OverflowPolicy.allCases {
                for rerouteScope in RerouteScope.allCases {
                    for renormalize in [false, true] {
                        case_ += 1
                        var c = SimConfig()
                        c.model.experts = topK <= 2 ? 8 : 16
                        c.model.topK = topK
                        c.capacity.scope = scope
                        c.capacity.priority = priority
                        c.capacity.factor = [1.0, 0.75, 1.25][case_ % 3]
                        c.overflow.policy = policy
                        c.overflow.rerouteScope = rerouteScope
                        c.overflow.renormalize = renormalize
                        c.overflow.maxReroutes = case_ % 4 == 0 ? 2 : nil
                        c.workload = case_ % 2 == 0 ? .zipf(exponent: 1.1) : .uniform
                        c.seed = UInt64(case_ * 101 + topK)
                        // Uneven batches, including an empty rank when P > 2.
                        c.tokens = .perRank((0..<t.size).map { r in r == 2 ? 0 : 24 + 7 * r })
                        if case_ % 3 == 1 {
                            c.placement.replicas = [.init(expert: 0, ranks: Array(Set([0, t.size - 1])).sorted())]
                        }
                        try compare(t, c, label: "case \(case_) \(priority) \(policy) \(rerouteScope) renorm=\(renormalize)")
                    }
                }
            }
        }
    }

    /// Every rank routes all ranks' tokens itself (routing is a function of the seed),
    /// computes the reference for the world, and checks its own fast-path decisions.
    static func compare(_ t: any Transport, _ c: SimConfig, label: String) throws {
        let layout = try ExpertLayout(c.placement, experts: c.model.experts, ranks: t.size)
        let router = try ReferenceRouter(config: c, worldSize: t.size)
        let all = try (0..<t.size).map { r -> RankChoices in
            let out = try router.route(step: 0, rank: r, layer: 0)
            return RankChoices(tokens: out.tokens, preference: out.preference, chosen: out.chosen, weights: out.weights)
        }
        let reference = ReferenceDecisions.decide(config: c, layout: layout, ranks: all)
        let mine = all[t.rank]
        let total = all.reduce(0) { $0 + $1.tokens }
        var fast = RoutingDecisions()
        try mine.preference.withUnsafeBufferPointer { pref in
            try mine.chosen.withUnsafeBufferPointer { chosen in
                try mine.weights.withUnsafeBufferPointer { w in
                    try CapacityDecider(config: c, layout: layout).decide(
                        rank: t.rank, tokens: mine.tokens, totalTokens: total, preference: pref,
                        chosen: chosen, weights: w, transport: t, into: &fast)
                }
            }
        }
        var expected = reference[t.rank]
        expected.exchangeRounds = fast.exchangeRounds
        if fast != expected {
            let first = (0..<fast.assignments).first {
                fast.finalExpert[$0] != expected.finalExpert[$0] || fast.outcome[$0] != expected.outcome[$0]
            }
            throw ConformanceFailure("\(label): rank \(t.rank) differs from the reference"
                                     + (first.map { " at slot \($0)" } ?? " in counters"))
        }
        let perRank = c.capacity.scope == .local ? fast.capacity : nil
        if let violation = fast.invariantViolation(layout: layout, rank: t.rank, perRankCapacity: perRank) {
            throw ConformanceFailure("\(label): rank \(t.rank): \(violation)")
        }
        // Global scope: no expert over the world's capacity.
        if c.capacity.scope == .global, let cap = fast.capacity {
            let load = try t.allreduce(fast.expertLoad.map(Int64.init), op: .sum)
            if let e = load.firstIndex(where: { $0 > Int64(cap) }) {
                throw ConformanceFailure("\(label): expert \(e) holds \(load[e]) > world capacity \(cap)")
            }
        }
    }
}
