extension ModelShape {
    /// A shape given directly (validation data, tests), with the wire row bytes stated.
    public init(hidden: Int, ffn: Int, experts: Int, topK: Int, groups: Int = 1, sharedExperts: Int = 0,
                activation: Activation = .swiglu, layers: Int = 1, chunks: Int = 1,
                dispatchRowBytes: Int, combineRowBytes: Int) {
        self.init(config: SimConfig())
        self.hidden = hidden
        self.ffn = ffn
        self.experts = experts
        self.topK = topK
        self.groups = groups
        self.sharedExperts = sharedExperts
        self.activation = activation
        self.layers = layers
        self.chunks = chunks
        self.dispatchRowBytes = dispatchRowBytes
        self.combineRowBytes = combineRowBytes
    }
}

/// One step's time on a target system, from its exact traffic (../shared/DESIGN.md,
/// "Target system"). Deterministic: the same step, shape and system give the same numbers.
public enum StepModel {
    /// Per rank and phase, each entry (layer, chunk) of the step; then the critical path.
    ///
    /// Per layer, with C chunks (C = 1 without overlap), every all-to-all waiting for its
    /// slowest participant and each compute slot for its slowest rank:
    ///   Σ_c pre_c + D_0 + Σ_i max(X_i, D_{i+1}, K_{i−1}) + K_{C−1} + Σ_c U_c
    /// with pre = route + permute, D = dispatch (its counts exchange's latency, then the
    /// payload), X = expert + shared, K = combine,
    /// U = unpermute, each the max over ranks (DESIGN's pipeline: the dispatch of chunk
    /// i+1 and the combine of chunk i−1 run beside the experts of chunk i, the slot
    /// taking the longest). With C = 1: pre + D + X + K + U.
    /// Phase times are seconds; bytes are the step's dispatch plus combine bytes. The
    /// bottleneck bandwidths are the busiest link's bytes over the phase time, summed over
    /// layers and chunks; `busiestLink` names the link bounding the longest exchange.
    public static func evaluate(_ step: StepTraffic, shape: ModelShape, system: SystemSpec) -> ModeledStep {
        let p = step.ranks
        let dev = DeviceModel(device: system.device)
        var perRank: [ModeledPhase: [Double]] = [:]
        for phase in ModeledPhase.allCases { perRank[phase] = [Double](repeating: 0, count: p) }
        let entries = step.perRank.map(\.chunks.count).min() ?? 0
        let chunks = max(1, min(shape.chunks, entries))
        var total = 0.0
        var selfBytes: Int64 = 0, intra: Int64 = 0, inter: Int64 = 0
        // Per exchange: busiest-link bytes and phase time summed over entries, and the
        // link that bounds the longest one.
        var busy: [AllToAllModel.Exchange: (bytes: Int64, seconds: Double)] = [:]
        var longest: (seconds: Double, link: String) = (0, "none")
        // Before each dispatch payload, its counts (rows per destination expert) are
        // exchanged: epsim's and Megatron-Core's all-to-all of tokens per expert, DeepEP's
        // notify. A few bytes per peer: one message latency on the slowest link class
        // the world spans (none on one rank; a measured sweep's smallest message).
        let topology = Topology(system: system, ranks: p)
        let nodes = Set(topology.node).count
        let countsSeconds = p < 2 ? 0 : (nodes > 1 ? system.interNode : system.intraNode).messageSeconds
        var critical: [ModeledPhase: Double] = [:]
        // DeepEP's counted bytes on rank 0 and the exchanges' times (`deepEPDispatchGBps`).
        var deepEP: [AllToAllModel.Exchange: (bytes: Int64, seconds: Double)] = [:]
        var selfPerRank = [Int64](repeating: 0, count: p)
        var linkPerRank = [[Int64]](repeating: [Int64](repeating: 0, count: LinkDirection.allCases.count), count: p)
        var layer = 0
        while layer * chunks < entries {
            var pre = [Double](), disp = [Double](), mid = [Double](), comb = [Double](), post = [Double]()
            for c in 0..<chunks {
                let e = layer * chunks + c
                guard e < entries else { break }
                var slot = (pre: 0.0, mid: 0.0, post: 0.0)
                var slowest: [ModeledPhase: Double] = [:]
                for r in 0..<p {
                    let ch = step.perRank[r].chunks[e]
                    let rows = ch.dispatchRows.reduce(0, +)
                    // The router and the shared experts run once per layer on all of the
                    // rank's tokens (before the first chunk's dispatch, and beside the
                    // first chunk's experts); permute, experts and unpermute per chunk.
                    let tokens = step.perRank[r].tokens
                    let route = c > 0 ? 0
                        : dev.routeSeconds(tokens: tokens, hidden: shape.hidden, experts: shape.experts, groups: shape.groups)
                    // The permute's per-row cost is paid on every assignment of the chunk's
                    // tokens (the capacity decisions visit dropped ones too), its bytes on
                    // the rows dispatched.
                    let permute = dev.permuteSeconds(rows: rows, hidden: shape.hidden, wireRowBytes: shape.dispatchRowBytes,
                                                     assignments: ch.tokens * shape.topK)
                    let expert = dev.expertSeconds(rows: ch.expertRows, hidden: shape.hidden, ffn: shape.ffn, activation: shape.activation)
                    let shared = c > 0 ? 0
                        : dev.sharedSeconds(tokens: tokens, hidden: shape.hidden, ffn: shape.ffn,
                                            sharedExperts: shape.sharedExperts, activation: shape.activation)
                    let unpermute = dev.unpermuteSeconds(rows: rows, hidden: shape.hidden, combineRowBytes: shape.combineRowBytes)
                    perRank[.route]![r] += route
                    perRank[.permute]![r] += permute
                    perRank[.expert]![r] += expert
                    perRank[.shared]![r] += shared
                    perRank[.unpermute]![r] += unpermute
                    for (phase, t) in [(ModeledPhase.route, route), (.permute, permute), (.expert, expert),
                                       (.shared, shared), (.unpermute, unpermute)] {
                        slowest[phase] = max(slowest[phase] ?? 0, t)
                    }
                    slot.pre = max(slot.pre, route + permute)
                    slot.mid = max(slot.mid, expert + shared)
                    slot.post = max(slot.post, unpermute)
                }
                pre.append(slot.pre)
                mid.append(slot.mid)
                post.append(slot.post)
                for (phase, t) in slowest { critical[phase, default: 0] += t }
                for (exchange, phase) in [(AllToAllModel.Exchange.dispatch, ModeledPhase.dispatch), (.combine, .combine)] {
                    let a = AllToAllModel.evaluate(step, chunk: e, exchange: exchange, shape: shape, system: system,
                                                   topology: topology)
                    let counts = exchange == .dispatch ? countsSeconds : 0
                    for r in 0..<p {
                        perRank[phase]![r] += a.perRankSeconds[r] + counts
                        for d in LinkDirection.allCases.indices { linkPerRank[r][d] += a.linkBytes[r][d] }
                        let own = step.perRank[r].chunks[e]
                        selfPerRank[r] += Int64(exchange == .dispatch ? own.dispatchBytes[r] : own.combineBytes[r])
                    }
                    if exchange == .dispatch { disp.append(a.seconds + counts) } else { comb.append(a.seconds) }
                    let row = Int64(exchange == .dispatch ? shape.dispatchRowBytes : shape.combineRowBytes)
                    let rows = nodes > 1 ? step.perRank[0].chunks[e].tokensToNode.reduce(0, +)
                        : (0..<p).reduce(0) { $0 + step.perRank[$1].chunks[e].dispatchRows[0] }
                    let counted = deepEP[exchange] ?? (0, 0)
                    deepEP[exchange] = (counted.bytes + Int64(rows) * row, counted.seconds + a.seconds)
                    critical[phase, default: 0] += a.seconds + counts
                    selfBytes += a.selfBytes
                    intra += a.intraNodeBytes
                    inter += a.interNodeBytes
                    let sum = busy[exchange] ?? (0, 0)
                    busy[exchange] = (sum.bytes + a.busiestBytes, sum.seconds + a.seconds + counts)
                    if a.seconds > longest.seconds { longest = (a.seconds, "\(a.busiestLink) (\(exchange))") }
                }
            }
            total += pipeline(pre: pre, dispatch: disp, compute: mid, combine: comb, post: post)
            layer += 1
        }
        var slowest: [ModeledPhase: Int] = [:]
        for (phase, times) in perRank {
            slowest[phase] = times.indices.max { times[$0] < times[$1] || (times[$0] == times[$1] && $0 > $1) } ?? 0
        }
        func gbps(_ e: AllToAllModel.Exchange) -> Double {
            guard let b = busy[e], b.seconds > 0 else { return 0 }
            return Double(b.bytes) / b.seconds / 1e9
        }
        var result = ModeledStep(perRank: perRank, stepSeconds: total, slowestRank: slowest, selfBytes: selfBytes,
                                 intraNodeBytes: intra, interNodeBytes: inter, dispatchBottleneckGBps: gbps(.dispatch),
                                 combineBottleneckGBps: gbps(.combine), busiestLink: longest.link)
        result.longestExchangeSeconds = longest.seconds
        result.selfBytesPerRank = selfPerRank
        result.criticalSeconds = critical
        result.linkBytesPerRank = linkPerRank
        func deepEPGBps(_ e: AllToAllModel.Exchange) -> Double {
            guard let d = deepEP[e], d.seconds > 0 else { return 0 }
            return Double(d.bytes) / d.seconds / 1e9
        }
        result.deepEPDispatchGBps = deepEPGBps(.dispatch)
        result.deepEPCombineGBps = deepEPGBps(.combine)
        return result
    }

    /// The critical path of one layer's chunks (see `evaluate`); every array has one
    /// entry per chunk, each already the max over ranks.
    public static func pipeline(pre: [Double], dispatch: [Double], compute: [Double], combine: [Double],
                                post: [Double]) -> Double {
        let c = compute.count
        guard c > 0 else { return 0 }
        var t = pre.reduce(0, +) + dispatch[0]
        for i in 0..<c {
            var slot = compute[i]
            if i + 1 < c { slot = max(slot, dispatch[i + 1]) }
            if i > 0 { slot = max(slot, combine[i - 1]) }
            t += slot
        }
        return t + combine[c - 1] + post.reduce(0, +)
    }
}
