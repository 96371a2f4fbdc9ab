/// One rank's router result in plain arrays: the input of the reference decisions.
public struct RankChoices: Sendable, Equatable {
    public var tokens: Int
    /// [T × E] every token's experts, most preferred first.
    public var preference: [Int32]
    /// [T × k] the chosen experts.
    public var chosen: [Int32]
    /// [T × k] slot weights before capacity.
    public var weights: [Float]

    public init(tokens: Int, preference: [Int32], chosen: [Int32], weights: [Float]) {
        self.tokens = tokens
        self.preference = preference
        self.chosen = chosen
        self.weights = weights
    }
}

/// The oracle for routing decisions: a plain, sequential implementation over all ranks
/// at once, with no buckets, no scratch reuse and no transport. Every assignment is a
/// value; each round walks the ranks in order and each rank's assignments in priority
/// order against per-expert counters. `CapacityDecider` must agree with it exactly.
public enum ReferenceDecisions {
    private struct Assignment {
        let rank: Int, token: Int, slot: Int
        let firstChoice: Int
        let weight: Float
        /// Rank holding the copy of the first choice (the "full expert" for same_rank).
        let holder: Int
        var candidate: Int? = nil
        var nextPosition: Int
        var considered = 0
        var final: Int? = nil
        var outcome: Outcome? = nil
    }

    public static func decide(config: SimConfig, layout: ExpertLayout, ranks: [RankChoices]) -> [RoutingDecisions] {
        let E = config.model.experts, k = config.model.topK, P = ranks.count
        let cap = config.capacity
        let total = ranks.reduce(0) { $0 + $1.tokens }
        let reroute = config.overflow.policy == .reroute
        let maxReroutes = config.overflow.maxReroutes ?? E
        let global = cap.scope == .global

        // All assignments, and each rank's list of them in priority order.
        var all: [[Assignment]] = []
        var orderOf: [[Int]] = []
        for (r, choice) in ranks.enumerated() {
            var list: [Assignment] = []
            for t in 0..<choice.tokens {
                for j in 0..<k {
                    let e = Int(choice.chosen[t * k + j])
                    list.append(Assignment(
                        rank: r, token: t, slot: j, firstChoice: e, weight: choice.weights[t * k + j],
                        holder: layout.copy(of: e, sourceRank: r, token: t).rank,
                        candidate: e, nextPosition: k))
                }
            }
            let ids = Array(list.indices).sorted { x, y in
                let a = list[x], b = list[y]
                switch cap.priority {
                case .position: return (a.token, a.slot) < (b.token, b.slot)
                case .slotPosition: return (a.slot, a.token) < (b.slot, b.token)
                case .score:
                    if a.weight != b.weight { return a.weight > b.weight }
                    return (a.token, a.slot) < (b.token, b.slot)
                }
            }
            all.append(list)
            orderOf.append(ids)
        }

        // Capacity counters: per (rank, expert) for local scope, per expert for global.
        let localCap = ranks.map { Capacity.local(cap, tokens: $0.tokens, topK: k, experts: E) }
        let globalCap = Capacity.global(cap, totalTokens: total, topK: k, experts: E)
        var localCount = [[Int]](repeating: [Int](repeating: 0, count: E), count: P)
        var globalCount = [Int](repeating: 0, count: E)

        func uses(_ r: Int, _ t: Int, _ e: Int, except slot: Int) -> Bool {
            (0..<k).contains { j in
                j != slot && (all[r][t * k + j].final == e || all[r][t * k + j].candidate == e)
            }
        }
        func inScope(_ a: Assignment, _ e: Int) -> Bool {
            switch config.overflow.rerouteScope {
            case .any: return true
            case .sourceRank: return layout.holds(rank: a.rank, expert: e)
            case .sameRank: return layout.holds(rank: a.holder, expert: e)
            }
        }

        var round = 0
        while true {
            if round > 0 {
                // Each pending assignment takes its next candidate, in priority order.
                for r in 0..<P {
                    for i in orderOf[r] where all[r][i].outcome == nil {
                        var a = all[r][i]
                        a.candidate = nil
                        all[r][i] = a
                        if a.considered < maxReroutes {
                            let prefs = ranks[r].preference[(a.token * E)..<(a.token * E + E)]
                            while a.nextPosition < E {
                                let e = Int(prefs[prefs.startIndex + a.nextPosition])
                                a.nextPosition += 1
                                if uses(r, a.token, e, except: a.slot) || !inScope(a, e) { continue }
                                a.candidate = e
                                a.considered += 1
                                break
                            }
                        }
                        if a.candidate == nil { a.outcome = .dropped }
                        all[r][i] = a
                    }
                }
            }
            var anyPending = false
            for r in 0..<P {
                for i in orderOf[r] where all[r][i].outcome == nil {
                    anyPending = true
                    let e = all[r][i].candidate!
                    let room: Bool
                    if global, let c = globalCap { room = globalCount[e] < c }
                    else if !global, let c = localCap[r] { room = localCount[r][e] < c }
                    else { room = true }
                    if room {
                        globalCount[e] += 1
                        localCount[r][e] += 1
                        all[r][i].final = e
                        all[r][i].outcome = round == 0 ? .accepted : .rerouted
                        all[r][i].candidate = nil
                    } else if reroute {
                        all[r][i].candidate = nil  // tries its next candidate next round
                    } else {
                        all[r][i].outcome = .dropped
                    }
                }
            }
            if !anyPending || !reroute { break }
            round += 1
        }

        // Write the plain results into the shared decision type.
        return (0..<P).map { r in
            var out = RoutingDecisions()
            out.reset(tokens: ranks[r].tokens, topK: k, experts: E)
            out.capacity = global ? globalCap : localCap[r]
            for (i, a) in all[r].enumerated() {
                out.outcome[i] = a.outcome!
                guard let e = a.final else {
                    out.dropped += 1
                    continue
                }
                let slot: ExpertLayout.Slot
                if a.outcome == .rerouted && config.overflow.rerouteScope == .sameRank {
                    slot = .init(rank: a.holder, localIndex: layout.localIndex(of: e, onRank: a.holder)!)
                } else {
                    slot = layout.copy(of: e, sourceRank: r, token: a.token)
                }
                out.finalExpert[i] = Int32(e)
                out.weight[i] = a.weight
                out.destRank[i] = Int32(slot.rank)
                out.destLocal[i] = Int32(slot.localIndex)
                out.expertLoad[e] += 1
                if a.outcome == .accepted { out.accepted += 1 } else { out.rerouted += 1 }
            }
            if config.overflow.renormalize {
                // Divided by max(sum, ε) (DeepSpeed's clamp at float32 epsilon with the
                // preset); a token with nothing left keeps its zeros.
                let epsilon = Float(config.overflow.renormalizeEpsilon)
                for t in 0..<ranks[r].tokens {
                    let sum = (0..<k).reduce(Float(0)) { $0 + out.weight[t * k + $1] }
                    if sum > 0 {
                        let divisor = sum < epsilon ? epsilon : sum
                        for j in 0..<k { out.weight[t * k + j] /= divisor }
                    }
                }
            }
            return out
        }
    }
}
