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
/// The rounds themselves run in a `DecisionPass`, on pointers to the buffers kept here.
/// All scratch is allocated once and grown only when the token count grows.
public final class CapacityDecider {
    private let config: SimConfig
    private let layout: ExpertLayout
    private let experts: Int
    private let topK: Int
    /// Room comes from `admit` (scope global with a capacity factor).
    private let global: Bool
    private let reroute: Bool

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

    /// Scratch [T × k] × 5, in `DecisionPass` order: pending, candidate, cursor,
    /// considered, holder. Sections are `slotStride` apart.
    private var slotScratch: [Int32] = []
    /// Scratch [T × k] × 2: score keys and their sort scratch, `slotStride` apart.
    private var sortScratch: [UInt64] = []
    private var slotStride = 0
    /// [E] × 3: home rank, home local index (`DecisionPass.findHomes`), bucket ends.
    private var expertScratch: [Int32]
    /// The rank whose homes `expertScratch` holds (-1: none yet).
    private var homesOf = -1
    /// [rounds × E + 1] scratch of `BufferPositions.number`, grown with the rounds run.
    private var positionScratch: [Int32] = []
    private var quota: [Int]               // [E] room this rank may still fill this round
    private var remaining: [Int]           // [E] world room left (global)

    public init(config: SimConfig, layout: ExpertLayout) {
        self.config = config
        self.layout = layout
        self.experts = config.model.experts
        self.topK = config.model.topK
        global = config.capacity.scope == .global && config.capacity.isBounded
        reroute = config.overflow.policy == .reroute
        quota = Array(repeating: 0, count: experts)
        remaining = quota
        demand = Array(repeating: 0, count: experts)
        expertScratch = Array(repeating: -1, count: 3 * experts)
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
        let room = capacity ?? Int.max  // global: replaced by every round's grant
        quota.withUnsafeMutableBufferPointer { $0.update(repeating: room) }
        remaining.withUnsafeMutableBufferPointer { $0.update(repeating: room) }
        pendingCount = n
        round = 0
        state = .deciding
        let findHomes = homesOf != rank
        homesOf = rank
        let chosen = UnsafeBufferPointer(rebasing: chosen[0..<n])
        let weights = UnsafeBufferPointer(rebasing: weights[0..<n])
        withPass(preference: preference, chosen: chosen, weights: weights) { pass in
            if findHomes { pass.findHomes() }
            pass.countFirstChoices()
            if global {
                // Round 0 runs in the first `admit`, after this call: keep what it reads.
                _ = pass.candidate.update(fromContentsOf: chosen)
                _ = pass.out.weight.update(fromContentsOf: weights)
            } else {
                pass.decideLocally()
                if config.overflow.renormalize { pass.renormalize(epsilon: Float(config.overflow.renormalizeEpsilon)) }
            }
        }
        if !global { complete() }
    }

    /// One round of a `scope: global` decision. `worldDemand` is [P × E] row-major: row r
    /// is rank r's `demand` for this round (as an allgather in rank order lays it out),
    /// the same on every rank. Grants the room left at each expert in rank order
    /// (`Capacity.grant`), fills this rank's share in priority order and, if the policy
    /// reroutes, fixes the next candidates of the rest and the next round's `demand`.
    ///
    /// `preference` must be the buffer passed to `begin` ([T × E], unchanged since): the
    /// caller keeps it alive for all rounds, so the decider need not copy it. Without
    /// `overflow.policy: reroute` it is not read (it may be empty).
    public func admit(worldDemand: [Int64], preference: UnsafeBufferPointer<Int32>) {
        precondition(state == .deciding && global, "admit without a scope: global decision in progress")
        // Only a rerouting policy reads past the chosen experts (`selectCandidates`).
        precondition(!reroute || preference.count >= result.tokens * experts,
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
        let last = total == 0 || !reroute
        // Round 0 reads the copies of the chosen experts and weights that `begin` kept.
        withPass(preference: preference, chosen: nil, weights: nil) { pass in
            if total > 0 {
                if pass.round == 0 { pass.firstRound() } else { pass.handOutRoom() }
                if reroute {
                    pass.selectCandidates()
                    pass.countDemand()
                }
            }
            if last && config.overflow.renormalize { pass.renormalize(epsilon: Float(config.overflow.renormalizeEpsilon)) }
        }
        if last { complete() }
    }

    /// Hands the finished decision over: `out` receives it, and what `out` held becomes
    /// scratch for a later decision (so nothing is allocated in steady state).
    public func finish(into out: inout RoutingDecisions) {
        precondition(state == .finished, "finish before the decision's last round")
        swap(&result, &out)
        state = .idle
    }

    /// Ends the decision: numbers the kept slots' buffer positions (`BufferPositions`).
    private func complete() {
        demand.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        let rounds = max(round, 1), e = experts
        if positionScratch.count <= rounds * e { positionScratch = Array(repeating: 0, count: rounds * e + 1) }
        let k = topK, slotMajor = config.capacity.priority == .slotPosition
        result.withUnsafeMutableSlots { out in
            positionScratch.withUnsafeMutableBufferPointer { counts in
                BufferPositions.number(out, topK: k, experts: e, rounds: rounds, slotMajor: slotMajor, counts: counts)
            }
        }
        state = .finished
    }

    private func grow(to n: Int) {
        guard slotStride < n else { return }
        slotStride = n
        slotScratch = Array(repeating: -1, count: 5 * n)
        sortScratch = Array(repeating: 0, count: 2 * n)
    }

    /// Runs `body` on a pass over this decider's buffers and the decision in progress,
    /// then takes back its round, pending count and counters. `chosen` and `weights`
    /// nil: the copies kept by `begin` (`candidate` and the decision's weights).
    private func withPass(
        preference: UnsafeBufferPointer<Int32>, chosen: UnsafeBufferPointer<Int32>?,
        weights: UnsafeBufferPointer<Float>?, _ body: (inout DecisionPass) -> Void
    ) {
        let n = result.assignments, stride = slotStride, e = experts
        let pass: DecisionPass = result.withUnsafeMutableSlots { out in
            slotScratch.withUnsafeMutableBufferPointer { slots in
                sortScratch.withUnsafeMutableBufferPointer { sort in
                    expertScratch.withUnsafeMutableBufferPointer { perExpert in
                        quota.withUnsafeMutableBufferPointer { quota in
                            demand.withUnsafeMutableBufferPointer { demand in
                                func section<T>(_ b: UnsafeMutableBufferPointer<T>, _ i: Int, _ size: Int,
                                                stride: Int) -> UnsafeMutableBufferPointer<T> {
                                    UnsafeMutableBufferPointer(rebasing: b[(i * stride)..<(i * stride + size)])
                                }
                                let candidate = section(slots, 1, n, stride: stride)
                                var pass = DecisionPass(
                                    topK: topK, experts: e, rank: rank, layout: layout,
                                    priority: config.capacity.priority, reroute: reroute,
                                    rerouteScope: config.overflow.rerouteScope,
                                    maxReroutes: config.overflow.maxReroutes ?? e,
                                    preference: preference,
                                    chosen: chosen ?? UnsafeBufferPointer(candidate),
                                    weights: weights ?? UnsafeBufferPointer(out.weight), out: out,
                                    pending: section(slots, 0, n, stride: stride), candidate: candidate,
                                    cursor: section(slots, 2, n, stride: stride),
                                    considered: section(slots, 3, n, stride: stride),
                                    holder: section(slots, 4, n, stride: stride),
                                    keys: section(sort, 0, n, stride: stride),
                                    sortScratch: section(sort, 1, n, stride: stride),
                                    quota: quota, demand: demand,
                                    homeRank: section(perExpert, 0, e, stride: e),
                                    homeLocal: section(perExpert, 1, e, stride: e),
                                    bucketEnd: section(perExpert, 2, e, stride: e),
                                    pendingCount: pendingCount, round: round)
                                body(&pass)
                                return pass
                            }
                        }
                    }
                }
            }
        }
        pendingCount = pass.pendingCount
        round = pass.round
        result.accepted += pass.accepted
        result.rerouted += pass.rerouted
        result.dropped += pass.dropped
    }
}
