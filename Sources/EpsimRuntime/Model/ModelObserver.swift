import EpsimCore

/// Records, after every counted step, this rank's part of the step as the target-system
/// model reads it (`RankStepTraffic`): per layer and overlap chunk, the payload bytes
/// and rows to each rank, the tokens bound for each node of `system`, and the rows each
/// local expert computed. Every figure is the run's own: bytes as the exchanges were
/// handed to the transport, rows as the experts received them, destinations from the
/// layer's decisions.
///
/// Collective after each counted step: every rank's part goes to rank 0, which models
/// the step (`StepModel.evaluate`) and keeps the result (`modeled`).
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
    /// On rank 0: every counted step modeled, in order, and the last step's traffic.
    public private(set) var modeled: [ModeledStep] = []
    public private(set) var lastTraffic: StepTraffic? = nil
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
        for layer in 0..<shape.layers {
            let d = rank.decisions[layer]
            for c in 0..<shape.chunks {
                let i = layer * shape.chunks + c
                let range = rank.tokenRange(chunk: c) ?? 0..<rank.tokens
                chunks[i].tokens = range.count
                chunks[i].addRows(of: d, tokens: range, dedup: dedup, nodeOfRank: nodeOfRank,
                                  seenRank: &seenRank, seenNode: &seenNode)
            }
        }
        try gather(RankStepTraffic(tokens: rank.tokens, chunks: chunks), transport: transport, layout: rank.layout)
    }

    /// This rank's part of the step to rank 0, which models the step at once and keeps
    /// only its `ModeledStep` (and the step's traffic, the last one), so a long run holds
    /// no more than one step's traffic. Collective.
    private func gather(_ part: RankStepTraffic, transport: any Transport, layout: ExpertLayout) throws {
        var flat: [Int64] = [Int64(part.tokens)]
        flat.reserveCapacity(1 + part.chunks.count * (1 + 4 * ranks + nodes + localExperts))
        for c in part.chunks {
            flat.append(Int64(c.tokens))
            for list in [c.dispatchBytes, c.combineBytes, c.dispatchRows, c.combineRows, c.tokensToNode, c.expertRows] {
                for v in list { flat.append(Int64(v)) }
            }
        }
        let all = try transport.gatherArrays(flat)
        guard transport.rank == 0 else { return }
        let traffic = StepTraffic(ranks: ranks, nodes: nodes, perRank: (0..<ranks).map { r in
            let values = all[r]
            var cursor = 0
            func take(_ n: Int) -> [Int] {
                defer { cursor += n }
                return values[cursor..<(cursor + n)].map { Int($0) }
            }
            let tokens = take(1)[0]
            let chunks = (0..<(shape.layers * shape.chunks)).map { _ in
                ChunkTraffic(tokens: take(1)[0], dispatchBytes: take(ranks), combineBytes: take(ranks),
                             dispatchRows: take(ranks), combineRows: take(ranks), tokensToNode: take(nodes),
                             expertRows: take(layout.local[r].count))
            }
            return RankStepTraffic(tokens: tokens, chunks: chunks)
        })
        modeled.append(StepModel.evaluate(traffic, shape: shape, system: system))
        lastTraffic = traffic
    }
}
