/// Numbers the kept assignments of each expert: `RoutingDecisions.bufferPosition`, the
/// index of a slot in its expert's capacity buffer from this rank.
///
/// The order is that of DeepSpeed's `locations` (a cumulative sum over tokens of the
/// kept mask) and of Megatron-Core's permutation (each expert's tokens in token order):
/// the assignments kept in round 0 come first, then those of reroute round 1, and so
/// on; within a round, in token order (`position`, `score`), or slot-major with
/// `slot_position` (every token's first choice before any token's second choice, as
/// DeepSpeed's top-2 gate offsets `locations2` by the first choices). The priority
/// decides which assignments are kept; the position does not depend on the weights.
///
/// It runs once per decision, after the last round, over the finished arrays, so the
/// rounds themselves (and their fast paths) only store each slot's round.
enum BufferPositions {
    /// Writes `out.bufferPosition` of every slot from `out.finalExpert` and
    /// `out.rerouteRound`: -1 for dropped slots.
    ///
    /// - Parameters:
    ///   - out: the finished decision's arrays ([T × k] each).
    ///   - topK: k.
    ///   - experts: E.
    ///   - rounds: more than the largest round of any kept slot (rounds the decision ran).
    ///   - slotMajor: slot-major order within a round (`priority: slot_position`).
    ///   - counts: scratch of at least `rounds × E + 1` entries.
    static func number(_ out: RoutingDecisions.Slots, topK: Int, experts: Int, rounds: Int, slotMajor: Bool,
                       counts: UnsafeMutableBufferPointer<Int32>) {
        let n = out.finalExpert.count, E = experts
        precondition(counts.count > rounds * E && n % max(topK, 1) == 0)
        let counts = UnsafeMutableBufferPointer(rebasing: counts[0...(rounds * E)])
        counts.update(repeating: 0)
        if rounds > 1 {
            // Each expert's kept slots per round, then where each round starts.
            for a in 0..<n where out.finalExpert[a] >= 0 {
                counts[Int(out.rerouteRound[a]) * E + Int(out.finalExpert[a])] += 1
            }
            for e in 0..<E {
                var start: Int32 = 0
                for r in 0..<rounds {
                    let c = counts[r * E + e]
                    counts[r * E + e] = start
                    start += c
                }
            }
        }
        // One round (every `drop` decision): every kept slot is from round 0. Dropped
        // slots count in a spare counter (index rounds × E) and get -1, without a branch.
        let oneRound = rounds == 1, spare = rounds * E
        @inline(__always) func place(_ a: Int) {
            let e = Int(out.finalExpert[a])
            let i = e < 0 ? spare : oneRound ? e : Int(out.rerouteRound[a]) * E + e
            let p = counts[i]
            counts[i] = p &+ 1
            out.bufferPosition[a] = e < 0 ? -1 : p
        }
        if slotMajor && topK > 1 {
            let tokens = n / topK
            for j in 0..<topK {
                for t in 0..<tokens { place(t * topK + j) }
            }
        } else {
            for a in 0..<n { place(a) }
        }
    }
}
