extension ConfigLoader {
    /// `ConfigValidator`'s checks, with those that need the world size (`ranks`, per-rank
    /// token lists, placements, trace file counts), the trace files' headers and the
    /// memory estimate of the ranks this process holds (`processRanks`; nil: every
    /// rank, as with `--emulate`; one rank per process under mpirun), against `memory`
    /// (nil: what the system has now). Runs on every rank before anything is allocated.
    /// Errors name the value's origin: the file, or the `--set key=value` that gave it.
    public static func validate(_ c: SimConfig, worldSize: Int, processRanks: Range<Int>? = nil,
                                ranksInProcess: Int? = nil,
                                verify: Bool = false, memory: MemoryLimit? = nil) throws(ConfigError) {
        _ = try estimate(c, worldSize: worldSize, processRanks: processRanks, ranksInProcess: ranksInProcess,
                         verify: verify, memory: memory)
    }

    /// `validate`, returning the memory estimate it checked (for `epsim validate`).
    ///
    /// `processRanks` are the ranks whose memory this machine holds (all of them for
    /// emulated ranks; the node's under MPI); `ranksInProcess` how many of them share
    /// this process's address space (RLIMIT_AS is per process), by default all.
    public static func estimate(_ c: SimConfig, worldSize: Int, processRanks: Range<Int>? = nil,
                                ranksInProcess: Int? = nil,
                                verify: Bool = false, memory: MemoryLimit? = nil) throws(ConfigError) -> MemoryEstimate {
        try ConfigValidator.check(c, worldSize: worldSize)
        let layout = try ExpertLayout(c.placement, experts: c.model.experts, ranks: worldSize)
        let ranks = processRanks ?? 0..<worldSize
        precondition(ranks.lowerBound >= 0 && ranks.upperBound <= worldSize, "ranks \(ranks) of \(worldSize)")
        let limit = memory ?? .current()
        try checkTraceHeaders(c, worldSize: worldSize, memory: limit)
        let estimate = MemoryEstimate(c, layout: layout, processRanks: ranks, verify: verify)
        try estimate.check(c, against: limit, ranksInProcess: ranksInProcess ?? ranks.count)
        return estimate
    }

    /// The trace sources (`ConfigValidator` checked their count): headers only (shape,
    /// type, layers, rows, size against the file and memory), every source on every
    /// process (so all ranks agree), a bad file one line before any data is read.
    public static func checkTraceHeaders(_ c: SimConfig, worldSize: Int, memory: MemoryLimit) throws(ConfigError) {
        let origin = c.origin(of: "workload") ?? c.sourcePath
        let tokens = (0..<worldSize).map { c.tokens(rank: $0, size: worldSize) }
        switch c.workload {
        case let .trace(files, dtype):
            _ = try RouterTrace.plan(files, key: NpyReader.keyPath, bf16: dtype == .bf16,
                                     columns: (c.model.experts, "model.experts"), layers: c.model.layers,
                                     tokensPerRank: tokens, ranks: [], configFile: origin, memoryLimit: memory.bytes)
        case let .topkTrace(ids, weights, dtype):
            let ok = try RouterTrace.plan(ids, key: "workload.topk_ids", bf16: false, columns: (c.model.topK, "model.top_k"),
                                          layers: c.model.layers, tokensPerRank: tokens, ranks: [], configFile: origin,
                                          integers: true, memoryLimit: memory.bytes)
            let wk = try RouterTrace.plan(weights, key: "workload.topk_weights", bf16: dtype == .bf16,
                                          columns: (c.model.topK, "model.top_k"), layers: c.model.layers,
                                          tokensPerRank: tokens, ranks: [], configFile: origin, memoryLimit: memory.bytes)
            for (a, b) in zip(ok.sources, wk.sources) where (a.steps, a.layers, a.rows, a.layered) != (b.steps, b.layers, b.rows, b.layered) {
                throw ConfigError(file: origin, keyPath: "workload.topk_weights",
                                  "\(b.path) is \(b.shapeText), \(a.path) is \(a.shapeText); weights and indices must have one shape")
            }
        default:
            return
        }
    }
}
