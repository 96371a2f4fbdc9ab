/// The links of one device, each full duplex, as the all-to-all model counts them.
public enum LinkDirection: Int, Sendable, CaseIterable, CustomStringConvertible {
    case nvlinkOut, nvlinkIn, nicOut, nicIn

    public var description: String {
        switch self {
        case .nvlinkOut: return "NVLink out"
        case .nvlinkIn: return "NVLink in"
        case .nicOut: return "NIC out"
        case .nicIn: return "NIC in"
        }
    }

    var isNetwork: Bool { self == .nicOut || self == .nicIn }
}

/// One all-to-all (a dispatch or a combine of one chunk of one layer) on a system.
public struct AllToAllResult: Sendable, Equatable {
    /// [P][4]: bytes each rank moves in each `LinkDirection`.
    public var linkBytes: [[Int64]]
    /// [P]: each rank's time, seconds: over the directions it uses, the largest
    /// latency + bytes / (gbps · efficiency · 1e9) (or the link's measured `sweep` at
    /// those bytes: `LinkSpec.seconds(bytes:)`), a combine at the link's
    /// `afterExperts` cost when it has one (directions run concurrently; the two
    /// legs of a hierarchical exchange are pipelined in chunks, as DeepEP does).
    public var perRankSeconds: [Double]
    /// The exchange ends for every rank when its slowest participant ends.
    public var seconds: Double
    /// Bytes that stay on their device, cross NVLink (counting each NVLink hop), and
    /// cross the network.
    public var selfBytes: Int64
    public var intraNodeBytes: Int64
    public var interNodeBytes: Int64
    /// The busiest link: the (rank, direction) that takes longest (the one that bounds the
    /// exchange; lowest rank on ties), nil when nothing crossed a link.
    public var busiestRank: Int?
    public var busiestDirection: LinkDirection?

    /// Bytes over the busiest link.
    public var busiestBytes: Int64 {
        guard let r = busiestRank, let d = busiestDirection else { return 0 }
        return linkBytes[r][d.rawValue]
    }

    /// "rank 3 NIC out", or "none".
    public var busiestLink: String {
        guard let r = busiestRank, let d = busiestDirection else { return "none" }
        return "rank \(r) \(d)"
    }
}

/// Flat and hierarchical all-to-all on a `SystemSpec` (../shared/DESIGN.md, "Target
/// system"), from the exact bytes of a `StepTraffic` chunk.
public enum AllToAllModel {
    public enum Exchange: Sendable { case dispatch, combine }

    /// The all-to-all of entry `chunk` (layer-major: layer · chunks + chunk) of every rank.
    ///
    /// - flat: each byte from source to destination device: NVLink inside a node, the
    ///   NIC between nodes.
    /// - hierarchical, dispatch: a source rank s sends each token bound for another node n
    ///   once over the network (`tokensToNode[n]` × the dispatch row bytes) to the rank of
    ///   node n with s's local index (modulo the ranks node n has), which forwards over
    ///   NVLink to every other destination rank d of node n the bytes s addressed to d
    ///   (`dispatchBytes[d]`); inside its own node s sends over NVLink directly.
    ///   Combine is the reverse: d returns `combineBytes[s]` over NVLink to that
    ///   forwarder, which sends one reduced row per token over the network
    ///   (s's `tokensToNode[node(d)]` × the combine row bytes).
    /// Self bytes use no link.
    public static func evaluate(_ step: StepTraffic, chunk: Int, exchange: Exchange, shape: ModelShape,
                                system: SystemSpec) -> AllToAllResult {
        evaluate(step, chunk: chunk, exchange: exchange, shape: shape, system: system,
                 topology: Topology(system: system, ranks: step.ranks))
    }

    /// The same on a topology already built for `system` and the step's ranks (a step's
    /// model evaluates every exchange of every layer on one).
    static func evaluate(_ step: StepTraffic, chunk: Int, exchange: Exchange, shape: ModelShape,
                         system: SystemSpec, topology topo: Topology) -> AllToAllResult {
        let p = step.ranks
        var link = [[Int64]](repeating: [0, 0, 0, 0], count: p)
        var selfBytes: Int64 = 0, intra: Int64 = 0, inter: Int64 = 0
        func move(_ bytes: Int64, from s: Int, to d: Int) {
            guard bytes > 0 else { return }
            if s == d {
                selfBytes += bytes
            } else if topo.node[s] == topo.node[d] {
                link[s][LinkDirection.nvlinkOut.rawValue] += bytes
                link[d][LinkDirection.nvlinkIn.rawValue] += bytes
                intra += bytes
            } else {
                link[s][LinkDirection.nicOut.rawValue] += bytes
                link[d][LinkDirection.nicIn.rawValue] += bytes
                inter += bytes
            }
        }
        // bytes[s][d]: what s hands to d in this exchange.
        func payload(_ s: Int, _ d: Int) -> Int64 {
            switch exchange {
            case .dispatch: return Int64(step.perRank[s].chunks[chunk].dispatchBytes[d])
            case .combine: return Int64(step.perRank[s].chunks[chunk].combineBytes[d])
            }
        }
        switch system.allToAll {
        case .flat:
            for s in 0..<p { for d in 0..<p { move(payload(s, d), from: s, to: d) } }
        case .hierarchical:
            for s in 0..<p {
                let c = step.perRank[s].chunks[chunk]
                for n in 0..<topo.nodes where !topo.ranksOfNode[n].isEmpty {
                    let ranks = topo.ranksOfNode[n]
                    if n == topo.node[s] {
                        // s's own node: straight over NVLink, either way.
                        for d in ranks {
                            if exchange == .dispatch { move(payload(s, d), from: s, to: d) } else { move(payload(d, s), from: d, to: s) }
                        }
                        continue
                    }
                    // Another node: one network row per token, through the rank with s's
                    // local index there, which forwards to (or gathers from) the others.
                    let f = topo.forwarder(node: n, localIndex: topo.local[s])
                    let tokens = Int64(n < c.tokensToNode.count ? c.tokensToNode[n] : 0)
                    switch exchange {
                    case .dispatch:
                        move(tokens * Int64(shape.dispatchRowBytes), from: s, to: f)
                        for d in ranks where d != f { move(payload(s, d), from: f, to: d) }
                    case .combine:
                        for d in ranks where d != f { move(payload(d, s), from: d, to: f) }
                        move(tokens * Int64(shape.combineRowBytes), from: f, to: s)
                    }
                }
            }
        }
        var perRank = [Double](repeating: 0, count: p)
        var busiest: (rank: Int, direction: LinkDirection, seconds: Double)?
        let nvlink = system.intraNode.state(for: exchange), nic = system.interNode.state(for: exchange)
        for r in 0..<p {
            for dir in LinkDirection.allCases {
                let bytes = link[r][dir.rawValue]
                guard bytes > 0 else { continue }
                let spec = dir.isNetwork ? nic : nvlink
                let seconds = spec.seconds(bytes: bytes)
                perRank[r] = max(perRank[r], seconds)
                if seconds > (busiest?.seconds ?? 0) { busiest = (r, dir, seconds) }
            }
        }
        return AllToAllResult(linkBytes: link, perRankSeconds: perRank, seconds: perRank.max() ?? 0,
                              selfBytes: selfBytes, intraNodeBytes: intra, interNodeBytes: inter,
                              busiestRank: busiest?.rank, busiestDirection: busiest?.direction)
    }
}

/// Nodes and local indices of P ranks on a system.
struct Topology {
    let nodes: Int
    /// [P]
    let node: [Int]
    /// [P]: position among the ranks of its node, in rank order.
    let local: [Int]
    /// [nodes]: ranks of each node in rank order.
    let ranksOfNode: [[Int]]

    init(system: SystemSpec, ranks p: Int) {
        let node = (0..<p).map { r in
            if let map = system.rankMap, r < map.count { return map[r] }
            return r / system.devicesPerNode
        }
        let nodes = (node.max() ?? -1) + 1
        var ranksOfNode = [[Int]](repeating: [], count: nodes)
        var local = [Int](repeating: 0, count: p)
        for r in 0..<p {
            local[r] = ranksOfNode[node[r]].count
            ranksOfNode[node[r]].append(r)
        }
        self.nodes = nodes
        self.node = node
        self.local = local
        self.ranksOfNode = ranksOfNode
    }

    /// The rank of `node` that receives a hierarchical exchange's network leg from a
    /// rank with `localIndex`: the one with the same local index, or (a node with fewer
    /// ranks) that index modulo its ranks.
    func forwarder(node n: Int, localIndex: Int) -> Int {
        let ranks = ranksOfNode[n]
        return ranks[localIndex % ranks.count]
    }
}
