/// The rounds of one rank's decision (see `CapacityDecider`) on buffer pointers, for the
/// length of one call of `begin` or `admit`: every buffer is reached once per call, not
/// once per assignment, so the loops pay no exclusivity, uniqueness or bounds checks.
///
/// Round 0 (`firstRound`) offers every assignment to its chosen expert. Where no expert
/// is offered more than its room, every assignment is accepted and no priority order is
/// needed; with `drop` and the `score` priority, only the assignments of the full experts
/// are ranked, each expert's apart (`Capacity.moveSmallest`); otherwise the whole
/// priority order is built (`Capacity.priorityOrder`) and handed room in turn. Later
/// rounds (reroute only) walk the pending assignments in that order.
struct DecisionPass {
    let topK: Int
    let experts: Int
    /// The source rank.
    let rank: Int
    let layout: ExpertLayout
    let priority: Priority
    let reroute: Bool
    let rerouteScope: RerouteScope
    let maxReroutes: Int

    /// [T × E] every token's experts, most preferred first.
    let preference: UnsafeBufferPointer<Int32>
    /// [T × k] the chosen experts; round 0 reads them.
    let chosen: UnsafeBufferPointer<Int32>
    /// [T × k] slot weights before capacity; round 0 reads them.
    let weights: UnsafeBufferPointer<Float>
    /// The decision being written. `expertLoad` [E] counts this pass's acceptances.
    let out: RoutingDecisions.Slots

    // [T × k] scratch, written in round 0 for the assignments left pending (reroute)
    // and read in later rounds.
    /// This round's pending assignments, in priority order (round 0: all of them).
    let pending: UnsafeMutableBufferPointer<Int32>
    /// Expert offered in the current round, -1 none. After a round 0 that leaves any
    /// assignment pending it is -1 or a candidate for every assignment.
    let candidate: UnsafeMutableBufferPointer<Int32>
    /// Next preference position to examine.
    let cursor: UnsafeMutableBufferPointer<Int32>
    /// Reroute candidates considered so far.
    let considered: UnsafeMutableBufferPointer<Int32>
    /// Rank of the first choice's copy (`same_rank` reroute scope).
    let holder: UnsafeMutableBufferPointer<Int32>
    /// [T × k] packed score keys, and the scratch of their sorts and selections.
    let keys: UnsafeMutableBufferPointer<UInt64>
    let sortScratch: UnsafeMutableBufferPointer<UInt64>

    /// [E] room this rank may still fill in the current round.
    let quota: UnsafeMutableBufferPointer<Int>
    /// [E] this rank's offers per expert in the current round (round 0: first choices).
    let demand: UnsafeMutableBufferPointer<Int64>
    /// [E] where this rank's accepted assignments of each expert run (`homeRank`,
    /// `homeLocal`); rank -1 where it depends on the token (replicas elsewhere).
    let homeRank: UnsafeMutableBufferPointer<Int32>
    let homeLocal: UnsafeMutableBufferPointer<Int32>
    /// [E] scratch of round 0: where each full expert's keys go in `keys`.
    let bucketEnd: UnsafeMutableBufferPointer<Int32>

    var pendingCount: Int
    var round: Int
    // Outcomes of this pass, for the decision's counters.
    var accepted = 0
    var rerouted = 0
    var dropped = 0

    private var n: Int { chosen.count }

    /// Fills `homeRank` and `homeLocal` for `rank`: a function of the layout and the rank.
    func findHomes() {
        for e in 0..<experts {
            if let slot = layout.fixedCopy(of: e, sourceRank: rank) {
                homeRank[e] = Int32(slot.rank)
                homeLocal[e] = Int32(slot.localIndex)
            } else {
                homeRank[e] = -1
                homeLocal[e] = -1
            }
        }
    }

    /// Counts the first choices per expert into `demand` (round 0's offers).
    func countFirstChoices() {
        demand.update(repeating: 0)
        for a in 0..<n {
            let e = Int(chosen[a])
            precondition(e >= 0 && e < experts, "assignment \(a) chose expert \(e) of \(experts)")
            demand[e] += 1
        }
    }

    /// Every round of a decision whose room is this rank's own (`quota` holds C_r).
    mutating func decideLocally() {
        firstRound()
        while reroute && pendingCount > 0 {
            selectCandidates()
            if pendingCount > 0 { handOutRoom() }
        }
    }

    /// Round 0: every assignment is offered to its chosen expert (`demand` holds the
    /// offers per expert, `quota` the room).
    mutating func firstRound() {
        var full = false
        for e in 0..<experts where Int(demand[e]) > quota[e] { full = true }
        if !full {
            acceptAll()
        } else if !reroute && priority == .score {
            keepBestOfFullExperts()
        } else {
            Capacity.priorityOrder(priority, tokens: n / topK, topK: topK, weights: weights,
                                   keys: keys, sortScratch: sortScratch, into: pending)
            pendingCount = n
            handOutRoom()
        }
        round = 1
    }

    /// Round 0 when every expert has room for all its offers.
    private mutating func acceptAll() {
        _ = out.finalExpert.update(fromContentsOf: chosen)
        _ = out.weight.update(fromContentsOf: weights)
        out.outcome.update(repeating: .accepted)
        out.rerouteRound.update(repeating: 0)
        for a in 0..<n { place(a, expert: Int(chosen[a])) }
        for e in 0..<experts {
            out.expertLoad[e] += Int(demand[e])
            quota[e] -= Int(demand[e])
        }
        accepted += n
        pendingCount = 0
    }

    /// Round 0 with `drop` and the `score` priority when some experts are full: the
    /// others accept all their offers; each full expert's offers are bucketed by
    /// expert (a counting sort) as score keys and the best `quota` of each are kept.
    private mutating func keepBestOfFullExperts() {
        var next = 0
        for e in 0..<experts {
            let offers = Int(demand[e])
            if offers > quota[e] {
                bucketEnd[e] = Int32(next)  // the bucket's start until it is filled
                next += offers
            } else {
                bucketEnd[e] = -1
            }
        }
        for a in 0..<n {
            let e = Int(chosen[a])
            let end = Int(bucketEnd[e])
            if end < 0 {
                accept(a, expert: e, weight: weights[a], outcome: .accepted)
            } else {
                keys[end] = Capacity.scoreKey(weight: weights[a], assignment: a)
                bucketEnd[e] = Int32(end + 1)
            }
        }
        for e in 0..<experts where bucketEnd[e] >= 0 {
            let end = Int(bucketEnd[e]), start = end - Int(demand[e]), room = quota[e]
            Capacity.moveSmallest(room, toFrontOf: UnsafeMutableBufferPointer(rebasing: keys[start..<end]),
                                  scratch: sortScratch)
            for i in start..<(start + room) {
                let a = Int(UInt32(truncatingIfNeeded: keys[i]))
                accept(a, expert: e, weight: weights[a], outcome: .accepted)
            }
            for i in (start + room)..<end { drop(Int(UInt32(truncatingIfNeeded: keys[i]))) }
            quota[e] = 0
        }
        pendingCount = 0
    }

    /// Hands out `quota` to the pending assignments in priority order; the rest stay
    /// pending (reroute) or are dropped. In round 0 every assignment is pending and
    /// offered to its chosen expert.
    mutating func handOutRoom() {
        let offered = round == 0 ? chosen : UnsafeBufferPointer(candidate)
        var still = 0
        for i in 0..<pendingCount {
            let a = Int(pending[i])
            let e = Int(offered[a])
            if quota[e] > 0 {
                quota[e] -= 1
                if round == 0 {
                    accept(a, expert: e, weight: weights[a], outcome: .accepted)
                } else {
                    accept(a, expert: e, weight: out.weight[a], outcome: .rerouted)
                }
            } else if reroute {
                if round == 0 { startRerouting(a) }
                pending[still] = Int32(a)
                still += 1
            } else {
                drop(a)
            }
            candidate[a] = -1
        }
        pendingCount = still
        round += 1
    }
}

// What a round does to single assignments.
extension DecisionPass {
    /// Accepts assignment `a` at expert `e` in the current round with its weight before
    /// renormalization.
    @inline(__always)
    private mutating func accept(_ a: Int, expert e: Int, weight: Float, outcome: Outcome) {
        out.finalExpert[a] = Int32(e)
        out.outcome[a] = outcome
        out.weight[a] = weight
        out.rerouteRound[a] = Int32(truncatingIfNeeded: round)
        out.expertLoad[e] += 1
        if outcome == .rerouted && rerouteScope == .sameRank {
            let r = Int(holder[a])
            out.destRank[a] = Int32(r)
            out.destLocal[a] = Int32(layout.localIndex(of: e, onRank: r)!)
        } else {
            place(a, expert: e)
        }
        if outcome == .rerouted { rerouted += 1 } else { accepted += 1 }
    }

    /// Writes the copy of `e` that assignment `a` uses (`ExpertLayout.copy`).
    @inline(__always)
    private func place(_ a: Int, expert e: Int) {
        let r = homeRank[e]
        if r >= 0 {
            out.destRank[a] = r
            out.destLocal[a] = homeLocal[e]
        } else {
            let slot = layout.copy(of: e, sourceRank: rank, token: a / topK)
            out.destRank[a] = Int32(slot.rank)
            out.destLocal[a] = Int32(slot.localIndex)
        }
    }

    @inline(__always)
    mutating func drop(_ a: Int) {
        out.finalExpert[a] = -1
        out.outcome[a] = .dropped
        out.weight[a] = 0
        out.destRank[a] = -1
        out.destLocal[a] = -1
        dropped += 1
        candidate[a] = -1
    }

    /// Divides each token's surviving weights by max(their sum, `epsilon`) (float32, the
    /// sum in slot order; `overflow.renormalize_epsilon`, 0: by the sum itself).
    func renormalize(epsilon: Float) {
        let k = topK
        for t in 0..<(n / k) {
            var sum: Float = 0
            for j in 0..<k { sum += out.weight[t * k + j] }
            guard sum > 0 else { continue }
            let divisor = max(sum, epsilon)
            for j in 0..<k { out.weight[t * k + j] /= divisor }
        }
    }
}
