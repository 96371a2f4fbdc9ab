/// The fast path of the capacity and overflow stage for one rank: given the router's
/// choices and preferences, decides for every (token, slot) whether it is accepted,
/// rerouted (and where) or dropped, exactly as DESIGN.md and docs/semantics.md say.
///
/// Decisions are made in rounds. Round 0 offers every assignment to its chosen expert;
/// each later round (reroute only) offers every still-pending assignment to its next
/// candidate. In each round the candidates of all pending assignments are fixed first
/// (in priority order), then room is handed out in priority order.
///
/// The rounds are explicit, so nothing here communicates:
///
///     decider.begin(rank: r, tokens: T, totalTokens: N, preference: p, chosen: c, weights: w)
///     while !decider.isFinished {
///         // world: every rank's `demand` [E], in rank order: [P × E]
///         decider.admit(worldDemand: world, preference: p)
///     }
///     decider.finish(into: &decisions)
///
/// With `scope: local` (or no capacity factor) the room is what is left of this rank's
/// C, and `begin` runs every round itself: the decision is finished when it returns.
/// With `scope: global` the room of each round comes from the world's demand: every rank
/// passes the same gathered demand to `admit`, `Capacity.grant` hands the room left at
/// each expert to the ranks in rank order, and all ranks finish in the same round (once
/// the world has no demand left, or after round 0 with `drop`). EpsimRuntime's
/// `decide(...transport:into:)` runs these rounds over a transport.
///
/// All scratch is allocated once and grown only when the token count grows.
public final class CapacityDecider {
    private let config: SimConfig
    private let layout: ExpertLayout
    private let experts: Int
    private let topK: Int
    /// Room comes from `admit` (scope global with a capacity factor).
    private let global: Bool
    private let reroute: Bool
    private let maxReroutes: Int

    private enum State { case idle, deciding, finished }
    private var state = State.idle

    /// [E] this rank's demand in the current round of a `scope: global` decision: how
    /// many of its pending assignments are offered to each expert. All zero once finished.
    public private(set) var demand: [Int64]
    /// Scratch for a caller that gathers the world's demand [P × E] each round, kept
    /// here so that rounds allocate nothing once it has its size.
    public var worldDemandScratch: [Int64] = []

    // The decision in progress.
    private var result = RoutingDecisions()
    private var rank = 0
    private var pendingCount = 0
    private var round = 0

    // Scratch, [T × k] unless noted.
    private var pending: [Int32] = []      // this round's pending assignments, priority order
    private var candidate: [Int32] = []    // expert offered this round, -1 none
    private var cursor: [Int32] = []       // next preference position to examine
    private var considered: [Int32] = []   // reroute candidates considered so far
    private var holder: [Int32] = []       // rank of the first choice's copy (same_rank scope)
    private var sortKeys: [UInt64] = []    // packed keys of the score priority order
    private var sortMerge: [UInt64] = []   // merge scratch of that sort
    private var quota: [Int]               // [E] room this rank may still fill this round
    private var remaining: [Int]           // [E] world room left (global)

    public init(config: SimConfig, layout: ExpertLayout) {
        self.config = config
        self.layout = layout
        self.experts = config.model.experts
        self.topK = config.model.topK
        global = config.capacity.scope == .global && config.capacity.factor != nil
        reroute = config.overflow.policy == .reroute
        maxReroutes = config.overflow.maxReroutes ?? config.model.experts
        quota = Array(repeating: 0, count: experts)
        remaining = quota
        demand = Array(repeating: 0, count: experts)
    }

    /// The decision begun last has been made to the end: `finish` may hand it over.
    /// Until then a `scope: global` decision needs another `admit`.
    public var isFinished: Bool { state == .finished }

    /// Begins deciding one rank's assignments (and abandons any decision in progress).
    /// The buffers are read during this call only; a `scope: global` decision reads
    /// `preference` again in every `admit`, which the caller passes the same buffer.
    ///
    /// - Parameters:
    ///   - rank: the source rank.
    ///   - tokens: T_r.
    ///   - totalTokens: sum of T over all ranks (used by `scope: global`).
    ///   - preference: [T × E] every token's experts, most preferred first.
    ///   - chosen: [T × k] the chosen experts (the first k of `preference`).
    ///   - weights: [T × k] slot weights before capacity.
    public func begin(
        rank: Int, tokens: Int, totalTokens: Int,
        preference: UnsafeBufferPointer<Int32>, chosen: UnsafeBufferPointer<Int32>,
        weights: UnsafeBufferPointer<Float>
    ) {
        let k = topK, n = tokens * k
        precondition(preference.count >= tokens * experts && chosen.count >= n && weights.count >= n)
        self.rank = rank
        result.reset(tokens: tokens, topK: k, experts: experts)
        grow(to: n)
        let capacity = global
            ? Capacity.global(config.capacity, totalTokens: totalTokens, topK: k, experts: experts)
            : Capacity.local(config.capacity, tokens: tokens, topK: k, experts: experts)
        result.capacity = capacity
        for e in 0..<experts {
            quota[e] = capacity ?? Int.max  // global: replaced by every round's grant
            remaining[e] = capacity ?? Int.max
        }
        pending.withUnsafeMutableBufferPointer { order in
            sortKeys.withUnsafeMutableBufferPointer { keys in
                sortMerge.withUnsafeMutableBufferPointer { merge in
                    Capacity.priorityOrder(config.capacity.priority, tokens: tokens, topK: k, weights: weights,
                                           keys: keys, merge: merge, into: order)
                }
            }
        }
        for a in 0..<n {
            candidate[a] = chosen[a]
            cursor[a] = Int32(k)
            considered[a] = 0
            holder[a] = Int32(layout.copy(of: Int(chosen[a]), sourceRank: rank, token: a / k).rank)
            result.weight[a] = weights[a]  // kept if accepted; a drop clears it
        }
        pendingCount = n
        round = 0
        state = .deciding
        if global {
            countDemand()
        } else {
            decideLocally(preference: preference)
        }
    }

    /// One round of a `scope: global` decision. `worldDemand` is [P × E] row-major: row r
    /// is rank r's `demand` for this round (as an allgather in rank order lays it out),
    /// the same on every rank. Grants the room left at each expert in rank order
    /// (`Capacity.grant`), fills this rank's share in priority order and, if the policy
    /// reroutes, fixes the next candidates of the rest and the next round's `demand`.
    ///
    /// `preference` must be the buffer passed to `begin` ([T × E], unchanged since): the
    /// caller keeps it alive for all rounds, so the decider need not copy it.
    public func admit(worldDemand: [Int64], preference: UnsafeBufferPointer<Int32>) {
        precondition(state == .deciding && global, "admit without a scope: global decision in progress")
        precondition(preference.count >= result.tokens * experts,
                     "preference of \(preference.count) for T = \(result.tokens), E = \(experts)")
        let p = worldDemand.count / experts
        precondition(worldDemand.count == p * experts && rank < p,
                     "world demand of \(worldDemand.count) for E = \(experts) and rank \(rank)")
        assert(worldDemand[(rank * experts)..<((rank + 1) * experts)].elementsEqual(demand),
               "row \(rank) of the world's demand is not this rank's")
        result.exchangeRounds += 1
        let total = Capacity.grant(worldDemand: worldDemand, experts: experts, room: &remaining,
                                   rank: rank, into: &quota)
        // Every rank sees the same total and takes the same branches: all finish together.
        guard total > 0 else { return complete() }
        handOutRoom()
        guard reroute else { return complete() }
        pendingCount = selectCandidates(preference: preference)
        countDemand()
    }

    /// Hands the finished decision over: `out` receives it, and what `out` held becomes
    /// scratch for a later decision (so nothing is allocated in steady state).
    public func finish(into out: inout RoutingDecisions) {
        precondition(state == .finished, "finish before the decision's last round")
        swap(&result, &out)
        state = .idle
    }

    /// Every round of a decision whose room is this rank's own (`quota` holds C_r).
    private func decideLocally(preference: UnsafeBufferPointer<Int32>) {
        while true {
            if round > 0 { pendingCount = selectCandidates(preference: preference) }
            if pendingCount == 0 { break }
            handOutRoom()
            if !reroute || pendingCount == 0 { break }
        }
        complete()
    }

    /// Hands out `quota` in priority order; the rest stay pending (reroute) or are dropped.
    private func handOutRoom() {
        var still = 0
        for i in 0..<pendingCount {
            let a = Int(pending[i])
            let e = Int(candidate[a])
            if quota[e] > 0 {
                quota[e] -= 1
                accept(a, expert: e, rerouted: round > 0)
            } else if reroute {
                candidate[a] = -1
                pending[still] = Int32(a)
                still += 1
            } else {
                drop(a)
            }
        }
        pendingCount = still
        round += 1
    }

    private func countDemand() {
        for e in 0..<experts { demand[e] = 0 }
        for i in 0..<pendingCount { demand[Int(candidate[Int(pending[i])])] += 1 }
    }

    private func complete() {
        if config.overflow.renormalize { renormalize() }
        for e in 0..<experts { demand[e] = 0 }
        state = .finished
    }

    private func grow(to n: Int) {
        guard pending.count < n else { return }
        pending = Array(repeating: 0, count: n)
        candidate = Array(repeating: -1, count: n)
        cursor = pending
        considered = pending
        holder = pending
        sortKeys = Array(repeating: 0, count: n)
        sortMerge = sortKeys
    }
}

// What a round does to single assignments.
extension CapacityDecider {
    /// Fixes the next candidate of every pending assignment, in priority order; those
    /// without one are dropped. Returns the new pending count.
    private func selectCandidates(preference: UnsafeBufferPointer<Int32>) -> Int {
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
                    if tokenUses(t, e, except: a) { continue }
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
                drop(a)
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
    private func tokenUses(_ t: Int, _ e: Int, except a: Int) -> Bool {
        for b in (t * topK)..<(t * topK + topK) where b != a {
            if Int(result.finalExpert[b]) == e || Int(candidate[b]) == e { return true }
        }
        return false
    }

    /// Accepts assignment `a` at expert `e`; its weight is already in place (`begin`).
    @inline(__always)
    private func accept(_ a: Int, expert e: Int, rerouted: Bool) {
        let t = a / topK
        let slot: ExpertLayout.Slot
        if rerouted && config.overflow.rerouteScope == .sameRank {
            let r = Int(holder[a])
            slot = ExpertLayout.Slot(rank: r, localIndex: layout.localIndex(of: e, onRank: r)!)
        } else {
            slot = layout.copy(of: e, sourceRank: rank, token: t)
        }
        result.finalExpert[a] = Int32(e)
        result.outcome[a] = rerouted ? .rerouted : .accepted
        result.destRank[a] = Int32(slot.rank)
        result.destLocal[a] = Int32(slot.localIndex)
        result.expertLoad[e] += 1
        if rerouted { result.rerouted += 1 } else { result.accepted += 1 }
        candidate[a] = -1
    }

    @inline(__always)
    private func drop(_ a: Int) {
        result.finalExpert[a] = -1
        result.outcome[a] = .dropped
        result.weight[a] = 0
        result.destRank[a] = -1
        result.destLocal[a] = -1
        result.dropped += 1
        candidate[a] = -1
    }

    private func renormalize() {
        let k = topK
        for t in 0..<result.tokens {
            var sum: Float = 0
            for j in 0..<k { sum += result.weight[t * k + j] }
            guard sum > 0 else { continue }
            for j in 0..<k { result.weight[t * k + j] /= sum }
        }
    }
}
