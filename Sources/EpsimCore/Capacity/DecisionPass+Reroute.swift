// The later rounds, which only `reroute` has.
extension DecisionPass {
    /// Fixes the next candidate of every pending assignment, in priority order; those
    /// without one are dropped. Updates the pending count.
    mutating func selectCandidates() {
        let k = topK
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
                    switch rerouteScope {
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
        pendingCount = kept
    }

    /// Whether token t already uses expert e through another slot: accepted there, or
    /// offered there in the current round.
    @inline(__always)
    private func tokenUses(_ t: Int, _ e: Int, except a: Int) -> Bool {
        for b in (t * topK)..<(t * topK + topK) where b != a {
            if Int(out.finalExpert[b]) == e || Int(candidate[b]) == e { return true }
        }
        return false
    }

    /// An assignment refused in round 0 that will look for another expert.
    @inline(__always)
    func startRerouting(_ a: Int) {
        out.finalExpert[a] = -1
        out.weight[a] = weights[a]  // kept if accepted later
        cursor[a] = Int32(topK)
        considered[a] = 0
        if rerouteScope == .sameRank {
            let e = Int(chosen[a])
            holder[a] = homeRank[e] >= 0
                ? homeRank[e] : Int32(layout.copy(of: e, sourceRank: rank, token: a / topK).rank)
        }
    }

    /// This rank's offers per expert in the next round.
    func countDemand() {
        demand.update(repeating: 0)
        for i in 0..<pendingCount { demand[Int(candidate[Int(pending[i])])] += 1 }
    }
}
