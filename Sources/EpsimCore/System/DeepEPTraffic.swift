/// The step DeepEP's normal-kernel benchmarks move (deepseek-ai/DeepEP
/// tests/test_intranode.py and tests/test_internode.py), rebuilt with epsim's seeded
/// generator: every rank draws scores over E experts for each of its T tokens (DeepEP
/// draws |N(0, 1)| + 1; only the order of the scores matters below, and the order of
/// independent draws of any continuous law is a uniform permutation, so 1 + U[0, 1) gives
/// the same routing distribution at a fraction of the cost); with N > 1 nodes the experts form N groups (one per node), each scored by its
/// largest score, and a token keeps the best min(N, 4) groups; it takes the top k experts
/// of those groups. Experts are contiguous per rank (E / P each). Dispatch is deduplicated
/// per rank (one row per (token, destination rank), `is_token_in_rank`), FP8 with one
/// fp32 scale per 128 channels (H + H/32 bytes a row); combine returns one BF16 row (2H
/// bytes) per received row.
///
/// It also counts the bytes DeepEP divides by its kernel time on rank 0:
/// - intranode ("NVL"): rank 0's received rows (`recv_x`, its own included) × row bytes;
/// - internode ("RDMA"): rank 0's (token, destination node) pairs, its own node included
///   (`num_rdma_token_sent`) × row bytes; combine counts the same pairs at BF16.
public struct DeepEPTraffic: Sendable {
    public var step: StepTraffic
    public var shape: ModelShape
    /// DeepEP's counted bytes on rank 0, dispatch (FP8) and combine (BF16).
    public var countedDispatchBytes: Int64
    public var countedCombineBytes: Int64
    /// Whether the counted bytes are "RDMA" (internode) or "NVL" (intranode).
    public var internode: Bool

    /// P ranks in nodes of `devicesPerNode` (DeepEP: 8).
    public init(ranks p: Int, devicesPerNode g: Int = 8, tokens t: Int = 4096, hidden h: Int = 7168,
                experts e: Int = 256, topK k: Int = 8, seed: UInt64 = 1) {
        precondition(p > 0 && e % p == 0 && p % g == 0 && e % (p / g) == 0, "DeepEPTraffic: E divisible by P and by nodes")
        let nodes = p / g
        let groupsPerToken = min(nodes, 4)
        let perRank = e / p, perNode = e / nodes
        let fp8Row = h + h / 128 * 4, bf16Row = 2 * h
        var dispatchRows = [[Int]](repeating: [Int](repeating: 0, count: p), count: p)
        var tokensToNode = [[Int]](repeating: [Int](repeating: 0, count: nodes), count: p)
        var expertRows = [[Int]](repeating: [Int](repeating: 0, count: perRank), count: p)
        var scores = [Double](repeating: 0, count: e)
        var chosen = [Int](repeating: 0, count: k)
        var groupBest = [Double](repeating: 0, count: nodes)
        var keepGroup = [Bool](repeating: false, count: nodes)
        var hitRank = [Bool](repeating: false, count: p)
        var hitNode = [Bool](repeating: false, count: nodes)
        for s in 0..<p {
            var rng = SeededRandom.stream(seed: seed, SeededRandom.key(s))
            for _ in 0..<t {
                scores.withUnsafeMutableBufferPointer { sc in
                    for x in 0..<e { sc[x] = 1 + rng.nextDouble() }
                    if nodes > 1 {
                        for n in 0..<nodes {
                            var m = 0.0
                            for x in (n * perNode)..<((n + 1) * perNode) { m = max(m, sc[x]) }
                            groupBest[n] = m
                            keepGroup[n] = false
                        }
                        for _ in 0..<groupsPerToken {
                            var best = -1
                            for n in 0..<nodes where !keepGroup[n] && (best < 0 || groupBest[n] > groupBest[best]) { best = n }
                            keepGroup[best] = true
                        }
                        for x in 0..<e where !keepGroup[x / perNode] { sc[x] = 0 }
                    }
                    // Top k in one pass: `chosen` kept in descending score (ties to the
                    // lower index; the draws are continuous, so ties do not occur).
                    var filled = 0
                    for x in 0..<e {
                        let v = sc[x]
                        if filled == k && v <= sc[chosen[k - 1]] { continue }
                        var j = filled < k ? filled : k - 1
                        while j > 0 && sc[chosen[j - 1]] < v {
                            chosen[j] = chosen[j - 1]
                            j -= 1
                        }
                        chosen[j] = x
                        if filled < k { filled += 1 }
                    }
                }
                for r in 0..<p { hitRank[r] = false }
                for n in 0..<nodes { hitNode[n] = false }
                for x in chosen {
                    hitRank[x / perRank] = true
                    hitNode[x / perNode] = true
                    expertRows[x / perRank][x % perRank] += 1
                }
                for r in 0..<p where hitRank[r] { dispatchRows[s][r] += 1 }
                for n in 0..<nodes where hitNode[n] { tokensToNode[s][n] += 1 }
            }
        }
        var parts: [RankStepTraffic] = []
        for s in 0..<p {
            // Combine: s returns one row for every row it received from each source.
            let received = (0..<p).map { dispatchRows[$0][s] }
            let chunk = ChunkTraffic(tokens: t, dispatchBytes: dispatchRows[s].map { $0 * fp8Row },
                                     combineBytes: received.map { $0 * bf16Row }, dispatchRows: dispatchRows[s],
                                     combineRows: received, tokensToNode: tokensToNode[s], expertRows: expertRows[s])
            parts.append(RankStepTraffic(tokens: t, chunks: [chunk]))
        }
        step = StepTraffic(ranks: p, nodes: nodes, perRank: parts)
        shape = ModelShape(hidden: h, ffn: 2048, experts: e, topK: k, groups: nodes, dispatchRowBytes: fp8Row,
                           combineRowBytes: bf16Row)
        internode = nodes > 1
        if internode {
            let pairs = Int64(tokensToNode[0].reduce(0, +))
            countedDispatchBytes = pairs * Int64(fp8Row)
            countedCombineBytes = pairs * Int64(bf16Row)
        } else {
            let recv = Int64((0..<p).reduce(0) { $0 + dispatchRows[$1][0] })
            countedDispatchBytes = recv * Int64(fp8Row)
            countedCombineBytes = recv * Int64(bf16Row)
        }
    }
}
