import EpsimCore

/// Records, after every counted step, this rank's part of the step as the target-system
/// model reads it (`RankStepTraffic`): per layer and overlap chunk, the payload bytes
/// and rows to each rank, the tokens bound for each node of `system`, and the rows each
/// local expert computed. Every figure is the run's own: bytes as the exchanges were
/// handed to the transport, rows as the experts received them, destinations from the
/// layer's decisions.
///
/// Not collective: the steps are gathered once at the end (`gathered(_:layout:)`).
public final class ModelObserver: StepObserver {
    public let system: SystemSpec
    public let shape: ModelShape
    public let ranks: Int
    /// N: nodes the system puts the run's ranks on.
    public let nodes: Int
    /// [P]: the node of each rank.
    private let nodeOfRank: [Int]
    private let localExperts: Int
    /// This step's chunks, layer-major ([layers × chunks]); refilled every step.
    private var chunks: [ChunkTraffic]
    /// Every counted step's part, in order.
    public private(set) var steps: [RankStepTraffic] = []
    /// Scratch: the last token counted for each node and each rank.
    private var seenNode: [Int]
    private var seenRank: [Int]
    /// `dispatch.dedup: rank`: one row per (token, destination rank).
    private let dedup: Bool

    /// `localExperts`: how many experts this rank holds.
    public init(system: SystemSpec, config: SimConfig, ranks: Int, localExperts: Int) {
        self.system = system
        shape = ModelShape(config: config)
        self.ranks = ranks
        nodeOfRank = (0..<ranks).map { system.node(ofRank: $0) }
        nodes = (nodeOfRank.max() ?? 0) + 1
        self.localExperts = localExperts
        let empty = ChunkTraffic(tokens: 0, dispatchBytes: Array(repeating: 0, count: ranks),
                                 combineBytes: Array(repeating: 0, count: ranks),
                                 dispatchRows: Array(repeating: 0, count: ranks),
                                 combineRows: Array(repeating: 0, count: ranks),
                                 tokensToNode: Array(repeating: 0, count: nodes),
                                 expertRows: Array(repeating: 0, count: localExperts))
        chunks = Array(repeating: empty, count: shape.layers * shape.chunks)
        seenNode = Array(repeating: -1, count: nodes)
        seenRank = Array(repeating: -1, count: ranks)
        dedup = config.dispatch.dedup == .rank
    }

    public func stepStarted(_ step: Int) {
        for i in chunks.indices {
            for p in 0..<ranks {
                chunks[i].dispatchBytes[p] = 0
                chunks[i].combineBytes[p] = 0
                chunks[i].dispatchRows[p] = 0
                chunks[i].combineRows[p] = 0
            }
            for n in 0..<nodes { chunks[i].tokensToNode[n] = 0 }
            for l in 0..<localExperts { chunks[i].expertRows[l] = 0 }
        }
    }

    public func exchangeStarted(_ e: ExchangeRecord) {
        let i = e.layer * shape.chunks + e.chunk
        for p in 0..<ranks {
            switch e.kind {
            case .dispatch: chunks[i].dispatchBytes[p] = e.bytes.sendBytes[p]
            case .combine:
                chunks[i].combineBytes[p] = e.bytes.sendBytes[p]
                chunks[i].combineRows[p] = e.bytes.sendBytes[p] / shape.combineRowBytes
            }
        }
    }

    public func expertComputed(_ block: ExpertBlock) {
        chunks[block.layer * shape.chunks + block.chunk].expertRows[block.localExpert] = block.rows
    }

    /// Counts, from each layer's decisions, the rows sent to each rank (one per surviving
    /// assignment, or per (token, rank) with `dispatch.dedup: rank`) and the tokens
    /// bound for each node, then keeps the step.
    public func stepFinished(_ step: Int, rank: MoERank, transport: any Transport) throws {
        let k = shape.topK
        for layer in 0..<shape.layers {
            let d = rank.decisions[layer]
            for c in 0..<shape.chunks {
                let i = layer * shape.chunks + c
                let range = rank.tokenRange(chunk: c) ?? 0..<rank.tokens
                chunks[i].tokens = range.count
                for t in range {
                    for j in 0..<k {
                        let dest = Int(d.destRank[t * k + j])
                        guard dest >= 0 else { continue }
                        if !dedup || seenRank[dest] != t {
                            seenRank[dest] = t
                            chunks[i].dispatchRows[dest] += 1
                        }
                        let node = nodeOfRank[dest]
                        if seenNode[node] != t {
                            seenNode[node] = t
                            chunks[i].tokensToNode[node] += 1
                        }
                    }
                }
                for n in 0..<nodes { seenNode[n] = -1 }
                for p in 0..<ranks { seenRank[p] = -1 }
            }
        }
        steps.append(RankStepTraffic(tokens: rank.tokens, chunks: chunks))
    }

    /// Fields of one chunk in the gathered array, for a rank holding `local` experts.
    private func fieldCount(local: Int) -> Int { 1 + 4 * ranks + nodes + local }

    /// Every rank's steps, on rank 0 (nil elsewhere): one `StepTraffic` per counted step.
    /// Collective.
    public func gathered(_ transport: any Transport, layout: ExpertLayout) throws -> [StepTraffic]? {
        var flat: [Int64] = []
        flat.reserveCapacity(steps.count * (1 + chunks.count * fieldCount(local: localExperts)))
        for s in steps {
            flat.append(Int64(s.tokens))
            for c in s.chunks {
                flat.append(Int64(c.tokens))
                for list in [c.dispatchBytes, c.combineBytes, c.dispatchRows, c.combineRows, c.tokensToNode, c.expertRows] {
                    for v in list { flat.append(Int64(v)) }
                }
            }
        }
        let all = try transport.gatherArrays(flat)
        guard transport.rank == 0 else { return nil }
        let perChunk = shape.layers * shape.chunks
        var cursor = Array(repeating: 0, count: ranks)
        return steps.indices.map { _ in
            StepTraffic(ranks: ranks, nodes: nodes, perRank: (0..<ranks).map { r in
                let values = all[r]
                func take(_ n: Int) -> [Int] {
                    defer { cursor[r] += n }
                    return values[cursor[r]..<(cursor[r] + n)].map { Int($0) }
                }
                let tokens = take(1)[0]
                let chunks = (0..<perChunk).map { _ in
                    ChunkTraffic(tokens: take(1)[0], dispatchBytes: take(ranks), combineBytes: take(ranks),
                                 dispatchRows: take(ranks), combineRows: take(ranks), tokensToNode: take(nodes),
                                 expertRows: take(layout.local[r].count))
                }
                return RankStepTraffic(tokens: tokens, chunks: chunks)
            })
        }
    }
}
