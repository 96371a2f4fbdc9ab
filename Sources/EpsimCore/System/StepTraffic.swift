/// What one counted step of a run did, as the target-system model reads it: the exact
/// per-pair bytes, rows per local expert and tokens per destination node, taken from the
/// run's own decisions and exchanges (not a distribution). Every rank fills its own rows
/// (`RankStepTraffic`); the run gathers them into one `StepTraffic` per counted step.
public struct StepTraffic: Sendable, Equatable {
    /// P.
    public var ranks: Int
    /// N: nodes of the system the traffic was counted for (`tokensToNode`'s width).
    public var nodes: Int
    /// [P]: each rank's part of the step, in rank order.
    public var perRank: [RankStepTraffic]

    public init(ranks: Int, nodes: Int, perRank: [RankStepTraffic]) {
        precondition(perRank.count == ranks, "StepTraffic: \(perRank.count) ranks' parts for \(ranks) ranks")
        self.ranks = ranks
        self.nodes = nodes
        self.perRank = perRank
    }
}

/// One rank's part of one step: per layer, per overlap chunk (`layers × chunks` entries,
/// layer-major), what it sent and computed.
public struct RankStepTraffic: Sendable, Equatable {
    /// T: tokens of this rank.
    public var tokens: Int
    public var chunks: [ChunkTraffic]

    public init(tokens: Int, chunks: [ChunkTraffic]) {
        self.tokens = tokens
        self.chunks = chunks
    }
}

/// One chunk of one layer on one rank (the whole layer without overlap).
public struct ChunkTraffic: Sendable, Equatable {
    /// Tokens of the chunk.
    public var tokens: Int
    /// [P]: dispatch payload bytes to each rank (self on its own index), at the wire
    /// precision, as handed to the all-to-allv.
    public var dispatchBytes: [Int]
    /// [P]: combine payload bytes to each rank.
    public var combineBytes: [Int]
    /// [P]: dispatch rows to each rank (one per assignment, or per (token, rank) with
    /// `dispatch.dedup: rank`).
    public var dispatchRows: [Int]
    /// [P]: combine rows to each rank.
    public var combineRows: [Int]
    /// [N]: tokens of the chunk with at least one accepted assignment on node n (the
    /// rows a hierarchical all-to-all sends over the network to node n; the own node's
    /// entry counts what stays inside it).
    public var tokensToNode: [Int]
    /// [local experts]: rows each of this rank's experts computed in the chunk.
    public var expertRows: [Int]

    public init(tokens: Int, dispatchBytes: [Int], combineBytes: [Int], dispatchRows: [Int], combineRows: [Int],
                tokensToNode: [Int], expertRows: [Int]) {
        self.tokens = tokens
        self.dispatchBytes = dispatchBytes
        self.combineBytes = combineBytes
        self.dispatchRows = dispatchRows
        self.combineRows = combineRows
        self.tokensToNode = tokensToNode
        self.expertRows = expertRows
    }
}

/// The layer's shape as the model needs it (from `SimConfig`).
public struct ModelShape: Sendable, Equatable {
    /// H, F, E, k, G (expert groups), S (shared experts), layers, overlap chunks.
    public var hidden: Int
    public var ffn: Int
    public var experts: Int
    public var topK: Int
    public var groups: Int
    public var sharedExperts: Int
    public var activation: Activation
    public var layers: Int
    public var chunks: Int
    /// Bytes of one row on the wire, dispatch and combine (`WireCodec.bytesPerRow`, and
    /// the slots' header with `dispatch.dedup: rank`).
    public var dispatchRowBytes: Int
    public var combineRowBytes: Int

    public init(config: SimConfig) {
        let m = config.model
        hidden = m.hidden
        ffn = m.ffn
        experts = m.experts
        topK = m.topK
        groups = config.router.groups
        sharedExperts = m.sharedExperts
        activation = m.activation
        layers = m.layers
        chunks = config.overlapChunks
        // A deduplicated row carries its slots' header (DedupHeader) in front of the token.
        dispatchRowBytes = WireCodec.bytesPerRow(config.precision.dispatch, hidden: m.hidden)
            + (config.dispatch.dedup == .rank ? DedupHeader.bytes(topK: m.topK) : 0)
        combineRowBytes = WireCodec.bytesPerRow(config.precision.combine, hidden: m.hidden)
    }
}

/// The modeled phases, in the report's order (Megatron-Core's stages grouped as
/// docs/semantics.md's phases; `capacity` decisions are part of permute).
public enum ModeledPhase: String, Sendable, CaseIterable {
    case route, permute, dispatch, expert, combine, unpermute, shared
}

/// One step's modeled time on a system (seconds), from `StepModel.evaluate`.
public struct ModeledStep: Sendable, Equatable {
    /// Per phase, [P]: each rank's own time for the phase, summed over layers and chunks.
    public var perRank: [ModeledPhase: [Double]]
    /// The step: the critical path across ranks (every all-to-all waits for its slowest
    /// participant), with overlap chunks pipelined.
    public var stepSeconds: Double
    /// Per phase: the rank that bounds it on the critical path (its largest per-rank time).
    public var slowestRank: [ModeledPhase: Int]
    /// Bytes of the step's dispatch plus combine that stay on a device, cross NVLink, and
    /// cross the network (after hierarchical forwarding, when the system uses it).
    public var selfBytes: Int64
    public var intraNodeBytes: Int64
    public var interNodeBytes: Int64
    /// DeepEP's bottleneck bandwidth, GB/s: bytes over the busiest link / phase time
    /// (the critical path's phase time).
    public var dispatchBottleneckGBps: Double
    public var combineBottleneckGBps: Double
    /// The busiest link of the step: a description such as "rank 3 NIC out".
    public var busiestLink: String
    /// Per phase: what the step waits for, seconds: summed over layers and chunks, the
    /// slowest rank's time in each (for an all-to-all, when its slowest participant ends).
    /// Overlapped chunks make their sum exceed `stepSeconds`.
    public var criticalSeconds: [ModeledPhase: Double] = [:]
    /// The time of the step's longest exchange, the one `busiestLink` bounds (seconds).
    public var longestExchangeSeconds: Double = 0
    /// [P]: bytes each rank kept on its device (its own rows, dispatch plus combine).
    public var selfBytesPerRank: [Int64] = []
    /// [P][4]: bytes each rank moved in each `LinkDirection` (NVLink out, NVLink in, NIC
    /// out, NIC in), dispatch plus combine, forwarding hops included.
    public var linkBytesPerRank: [[Int64]] = []
    /// DeepEP's bandwidth, GB/s, as its tests count it (tests/test_internode.py and
    /// test_intranode.py): rank 0's bytes over the exchange's time, summed over layers
    /// and chunks. Across nodes ("RDMA") the bytes are rank 0's (token, node) pairs, its
    /// own node included, × the wire row; within one node ("NVL") its received rows ×
    /// the wire row. `ModelValidation.deepEPNormal` compares the same figure with
    /// DeepEP's published table.
    public var deepEPDispatchGBps: Double = 0
    public var deepEPCombineGBps: Double = 0

    public init(perRank: [ModeledPhase: [Double]], stepSeconds: Double, slowestRank: [ModeledPhase: Int],
                selfBytes: Int64, intraNodeBytes: Int64, interNodeBytes: Int64,
                dispatchBottleneckGBps: Double, combineBottleneckGBps: Double, busiestLink: String) {
        self.perRank = perRank
        self.stepSeconds = stepSeconds
        self.slowestRank = slowestRank
        self.selfBytes = selfBytes
        self.intraNodeBytes = intraNodeBytes
        self.interNodeBytes = interNodeBytes
        self.dispatchBottleneckGBps = dispatchBottleneckGBps
        self.combineBottleneckGBps = combineBottleneckGBps
        self.busiestLink = busiestLink
    }
}
