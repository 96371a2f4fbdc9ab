import EpsimCore

extension ChunkTraffic {
    /// Adds, for the tokens in `range` of one rank's layer decisions `d`, the rows sent
    /// to each rank (one per accepted or rerouted assignment, or per (token, rank) with
    /// `dedup`) to `dispatchRows` [P], and the tokens with an assignment on each node to
    /// `tokensToNode` [N]. `seenRank` [P] and `seenNode` [N] are scratch, all -1 on entry
    /// and on return. A run's `ModelObserver` and `epsim estimate` both count with it.
    mutating func addRows(of d: RoutingDecisions, tokens range: Range<Int>, dedup: Bool, nodeOfRank: [Int],
                          seenRank: inout [Int], seenNode: inout [Int]) {
        let k = d.topK
        d.destRank.withUnsafeBufferPointer { destRank in
            for t in range {
                for j in 0..<k {
                    let dest = Int(destRank[t * k + j])
                    guard dest >= 0 else { continue }
                    if !dedup || seenRank[dest] != t {
                        seenRank[dest] = t
                        dispatchRows[dest] += 1
                    }
                    let node = nodeOfRank[dest]
                    if seenNode[node] != t {
                        seenNode[node] = t
                        tokensToNode[node] += 1
                    }
                }
            }
        }
        for n in seenNode.indices { seenNode[n] = -1 }
        for p in seenRank.indices { seenRank[p] = -1 }
    }
}
