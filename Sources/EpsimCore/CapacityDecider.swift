/// The fast path of the capacity and overflow stage for one rank: given the router's
/// choices and preferences, decides for every (token, slot) whether it is accepted,
/// rerouted (and where) or dropped, exactly as DESIGN.md and docs/semantics.md say.
///
/// Decisions are made in rounds. Round 0 offers every assignment to its chosen expert;
/// each later round (reroute only) offers every still-pending assignment to its next
/// candidate. In each round the candidates of all pending assignments are fixed first
/// (in priority order), then room is handed out in priority order. With
/// `scope: global` the room of a round comes from one demand/grant exchange through
/// the transport; with `scope: local` it is what is left of this rank's C.
///
/// All scratch is allocated once and grown only when the token count grows.
public final class CapacityDecider {
    public let config: SimConfig
    public let layout: ExpertLayout
    private let experts: Int
    private let topK: Int

    // Scratch, [T × k] unless noted.
    private var order: [Int32] = []        // assignments in priority order
    private var pending: [Int32] = []      // this round's pending assignments, priority order
    private var candidate: [Int32] = []    // expert offered this round, -1 none
    private var cursor: [Int32] = []       // next preference position to examine
    private var considered: [Int32] = []   // reroute candidates considered so far
    private var holder: [Int32] = []       // rank of the first choice's copy (same_rank scope)
    private var quota: [Int]               // [E] room granted this round
    private var taken: [Int]               // [E] room used this round
    private var used: [Int]                // [E] accepted so far (local scope)
    private var remaining: [Int]           // [E] world room left (global scope)
    private var demand: [Int64]            // [E] this rank's demand this round
    private var allDemand: [Int64] = []    // [P × E] every rank's demand this round

    public init(config: SimConfig, layout: ExpertLayout) {
        self.config = config
        self.layout = layout
        self.experts = config.model.experts
        self.topK = config.model.topK
        quota = Array(repeating: 0, count: experts)
        taken = quota
        used = quota
        remaining = quota
        demand = Array(repeating: 0, count: experts)
    }

    /// Decides one rank's assignments.
    ///
    /// - Parameters:
    ///   - rank: the source rank.
    ///   - tokens: T_r.
    ///   - totalTokens: sum of T over all ranks (used by `scope: global`).
    ///   - preference: [T × E] every token's experts, most preferred first.
    ///   - chosen: [T × k] the chosen experts (the first k of `preference`).
    ///   - weights: [T × k] slot weights before capacity.
    ///   - transport: required for `scope: global`, where every rank must call this
    ///     method collectively; ignored for `local`.
    public func decide(
        rank: Int, tokens: Int, totalTokens: Int,
        preference: UnsafeBufferPointer<Int32>, chosen: UnsafeBufferPointer<Int32>,
        weights: UnsafeBufferPointer<Float>, transport: (any Transport)?,
        into out: inout RoutingDecisions
    ) throws {
        let k = topK, n = tokens * k
        precondition(preference.count >= tokens * experts && chosen.count >= n && weights.count >= n)
        out.reset(tokens: tokens, topK: k, experts: experts)
        grow(to: n)
        let global = config.capacity.scope == .global && config.capacity.factor != nil
        if global { precondition(transport != nil, "scope: global needs a transport") }
        let capacity = global
            ? Capacity.global(config.capacity, totalTokens: totalTokens, topK: k, experts: experts)
            : Capacity.local(config.capacity, tokens: tokens, topK: k, experts: experts)
        out.capacity = capacity
        let reroute = config.overflow.policy == .reroute
        let maxReroutes = config.overflow.maxReroutes ?? experts

        for e in 0..<experts {
            used[e] = 0
            remaining[e] = capacity ?? Int.max
        }
        order.withUnsafeMutableBufferPointer { order in
            Capacity.priorityOrder(config.capacity.priority, tokens: tokens, topK: k,
                                   weights: weights, into: order)
        }
        for a in 0..<n {
            let t = a / k
            pending[a] = order[a]
            candidate[a] = chosen[a]
            cursor[a] = Int32(k)
            considered[a] = 0
            holder[a] = Int32(layout.copy(of: Int(chosen[a]), sourceRank: rank, token: t).rank)
        }
        var pendingCount = n
        var round = 0
        while true {
            if round > 0 {
                pendingCount = selectCandidates(rank: rank, pendingCount: pendingCount,
                                                preference: preference, maxReroutes: maxReroutes,
                                                out: &out)
            }
            // Room for this round.
            if global {
                for e in 0..<experts { demand[e] = 0 }
                for i in 0..<pendingCount { demand[Int(candidate[Int(pending[i])])] += 1 }
                let worldDemand = try grant(rank: rank, transport: transport!)
                out.exchangeRounds += 1
                if worldDemand == 0 { break }
            } else {
                if pendingCount == 0 { break }
                for e in 0..<experts { quota[e] = capacity.map { $0 - used[e] } ?? Int.max }
            }
            for e in 0..<experts { taken[e] = 0 }
            // Hand out room in priority order; the rest stay pending.
            var still = 0
            for i in 0..<pendingCount {
                let a = Int(pending[i])
                let e = Int(candidate[a])
                if taken[e] < quota[e] {
                    taken[e] += 1
                    accept(a, expert: e, rank: rank, rerouted: round > 0, weights: weights, out: &out)
                } else if reroute {
                    candidate[a] = -1
                    pending[still] = Int32(a)
                    still += 1
                } else {
                    drop(a, out: &out)
                }
            }
            for e in 0..<experts { used[e] += taken[e] }
            pendingCount = still
            round += 1
            // Every rank takes the same branch here, so global exchanges stay matched.
            if !reroute || (!global && pendingCount == 0) { break }
        }
        if config.overflow.renormalize { renormalize(&out) }
    }

    /// Fixes the next candidate of every pending assignment, in priority order; those
    /// without one are dropped. Returns the new pending count.
    private func selectCandidates(
        rank: Int, pendingCount: Int, preference: UnsafeBufferPointer<Int32>,
        maxReroutes: Int, out: inout RoutingDecisions
    ) -> Int {
        let k = topK, scope = config.overflow.rerouteScope
        var kept = 0
        for i in 0..<pendingCount {
            let a = Int(pending[i])
            let t = a / k
            var found = -1
            if Int(considered[a]) < maxReroutes {
                var pos = Int(cursor[a])
                while pos < experts {
                    let e = Int(preference[t * experts + pos])
                    pos += 1
                    if tokenUses(t, e, except: a, out: out) { continue }
                    switch scope {
                    case .any: break
                    case .sourceRank: if !layout.holds(rank: rank, expert: e) { continue }
                    case .sameRank: if !layout.holds(rank: Int(holder[a]), expert: e) { continue }
                    }
                    found = e
                    break
                }
                cursor[a] = Int32(pos)
            }
            if found < 0 {
                drop(a, out: &out)
            } else {
                considered[a] += 1
                candidate[a] = Int32(found)
                pending[kept] = Int32(a)
                kept += 1
            }
        }
        return kept
    }

    /// Whether token t already uses expert e through another slot: accepted there, or
    /// offered there in the current round.
    @inline(__always)
    private func tokenUses(_ t: Int, _ e: Int, except a: Int, out: RoutingDecisions) -> Bool {
        for b in (t * topK)..<(t * topK + topK) where b != a {
            if Int(out.finalExpert[b]) == e || Int(candidate[b]) == e { return true }
        }
        return false
    }

    /// One demand/grant exchange: every rank's demand is gathered; the room left at each
    /// expert is granted to sources in rank order (what the holder of the expert's first
    /// copy would grant). Sets `quota` for this rank; returns the world's total demand.
    private func grant(rank: Int, transport: any Transport) throws -> Int64 {
        let p = transport.size
        if allDemand.count != p * experts { allDemand = Array(repeating: 0, count: p * experts) }
        try demand.withUnsafeBufferPointer { send in
            try allDemand.withUnsafeMutableBufferPointer { recv in
                try transport.allgather(send, into: recv)
            }
        }
        var total: Int64 = 0
        for e in 0..<experts {
            var left = remaining[e]
            for r in 0..<p {
                let want = Int(allDemand[r * experts + e])
                total += Int64(want)
                let granted = min(want, left)
                left -= granted
                if r == rank { quota[e] = granted }
            }
            remaining[e] = left
        }
        return total
    }

    @inline(__always)
    private func accept(_ a: Int, expert e: Int, rank: Int, rerouted: Bool,
                        weights: UnsafeBufferPointer<Float>, out: inout RoutingDecisions) {
        let t = a / topK
        let slot: ExpertLayout.Slot
        if rerouted && config.overflow.rerouteScope == .sameRank {
            let r = Int(holder[a])
            slot = ExpertLayout.Slot(rank: r, localIndex: layout.localIndex(of: e, onRank: r)!)
        } else {
            slot = layout.copy(of: e, sourceRank: rank, token: t)
        }
        out.finalExpert[a] = Int32(e)
        out.outcome[a] = rerouted ? .rerouted : .accepted
        out.weight[a] = weights[a]
        out.destRank[a] = Int32(slot.rank)
        out.destLocal[a] = Int32(slot.localIndex)
        out.expertLoad[e] += 1
        if rerouted { out.rerouted += 1 } else { out.accepted += 1 }
        candidate[a] = -1
    }

    @inline(__always)
    private func drop(_ a: Int, out: inout RoutingDecisions) {
        out.finalExpert[a] = -1
        out.outcome[a] = .dropped
        out.weight[a] = 0
        out.destRank[a] = -1
        out.destLocal[a] = -1
        out.dropped += 1
        candidate[a] = -1
    }

    private func renormalize(_ out: inout RoutingDecisions) {
        let k = topK
        for t in 0..<out.tokens {
            var sum: Float = 0
            for j in 0..<k { sum += out.weight[t * k + j] }
            guard sum > 0 else { continue }
            for j in 0..<k { out.weight[t * k + j] /= sum }
        }
    }

    private func grow(to n: Int) {
        guard order.count < n else { return }
        order = Array(repeating: 0, count: n)
        pending = order
        candidate = Array(repeating: -1, count: n)
        cursor = order
        considered = order
        holder = order
    }
}
