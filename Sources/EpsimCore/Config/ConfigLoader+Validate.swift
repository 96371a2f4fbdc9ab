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
        try checkTraceHeaders(c, worldSize: worldSize, processRanks: ranks, memory: limit)
        let estimate = MemoryEstimate(c, layout: layout, processRanks: ranks, verify: verify)
        try estimate.check(c, against: limit, ranksInProcess: ranksInProcess ?? ranks.count)
        return estimate
    }

    /// The trace files the process's ranks read (`ConfigValidator` checked their count):
    /// headers only (shape, type, size against the file and memory), so a bad file is
    /// one line before any data is read.
    public static func checkTraceHeaders(_ c: SimConfig, worldSize: Int, processRanks: Range<Int>,
                                  memory: MemoryLimit) throws(ConfigError) {
        guard case let .trace(files) = c.workload else { return }
        let origin = c.origin(of: "workload")
        for file in Set(files.count == 1 ? files : processRanks.map { files[$0] }) {
            let shape = try NpyReader.shape(path: file, configFile: origin, memoryLimit: memory.bytes)
            try ConfigValidator.checkTraceColumns(shape.cols, file: file, experts: c.model.experts, origin: origin)
        }
    }
}
