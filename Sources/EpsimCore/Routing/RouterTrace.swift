/// Recorded router logits for the `trace` workload, read from NumPy .npy files of
/// shape [tokens, E] float32, for the ranks a process routes.
///
/// - One file: it is split across ranks in rank order. Rank r takes rows
///   [T_0 + ... + T_{r-1}, + T_r), so the file needs at least T_0 + ... + T_{P-1} rows.
/// - One file per rank (as many files as ranks): rank r takes the first T_r rows of
///   file r.
/// Extra rows are ignored. Every step and every layer replays the same rows: the
/// trace fixes the routing pattern, steps only repeat it (timings and the reference
/// see identical decisions each step). Logits must be finite.
public struct RouterTrace: Sendable, Equatable {
    /// E: columns of every file.
    public let experts: Int
    /// rank -> its logits [T_r × E], row-major, for the ranks loaded.
    public let logitsByRank: [Int: [Float]]

    /// Logits given in memory (tests that replay another program's logits, such as the
    /// peer fixtures of `router.compat`): rank -> [T_r × E] row-major, every entry finite.
    public init(experts: Int, logitsByRank: [Int: [Float]]) {
        precondition(logitsByRank.values.allSatisfy { $0.count % experts == 0 && $0.allSatisfy(\.isFinite) },
                     "trace rows must be [T × \(experts)] finite floats")
        self.experts = experts
        self.logitsByRank = logitsByRank
    }

    /// Loads the rows of `ranks` (nil: every rank) for the trace workload of `config`.
    /// Errors are `ConfigError`s at `workload.file` naming the file and the problem.
    public init(config: SimConfig, worldSize: Int, ranks: [Int]? = nil) throws(ConfigError) {
        guard case let .trace(files) = config.workload else {
            preconditionFailure("RouterTrace needs the trace workload, got \(config.workload.name)")
        }
        let spec = try RouterSpec(config: config, worldSize: worldSize)
        try self.init(files: files, experts: spec.experts, tokensPerRank: spec.tokensPerRank,
                      ranks: ranks ?? Array(0..<worldSize), configFile: config.sourcePath)
    }

    /// The trace `config` routes from: loaded for `ranks` (nil: every rank) when the
    /// workload is a trace, nil for every other workload.
    public static func loadIfNeeded(config: SimConfig, worldSize: Int, ranks: [Int]? = nil) throws(ConfigError) -> RouterTrace? {
        guard case .trace = config.workload else { return nil }
        return try RouterTrace(config: config, worldSize: worldSize, ranks: ranks)
    }

    /// Loads the rows of `ranks` from `files` (one split across ranks, or one per rank).
    public init(
        files: [String], experts: Int, tokensPerRank: [Int], ranks: [Int], configFile: String? = nil
    ) throws(ConfigError) {
        let P = tokensPerRank.count
        let key = NpyReader.keyPath
        func fail(_ message: String) -> ConfigError { ConfigError(file: configFile, keyPath: key, message) }
        try ConfigValidator.checkTraceFiles(files.count, worldSize: P, origin: configFile)
        for r in ranks { precondition((0..<P).contains(r), "rank \(r) out of range 0..<\(P)") }
        self.experts = experts
        var byRank: [Int: [Float]] = [:]

        func checked(_ path: String) throws(ConfigError) -> NpyArray {
            let a = try NpyReader.read(path: path, configFile: configFile)
            try ConfigValidator.checkTraceColumns(a.cols, file: path, experts: experts, origin: configFile)
            return a
        }
        func rows(_ a: NpyArray, _ path: String, from start: Int, count: Int) throws(ConfigError) -> [Float] {
            let slice = Array(a.data[(start * experts)..<((start + count) * experts)])
            if let i = slice.firstIndex(where: { !$0.isFinite }) {
                throw fail("\(path): row \(start + i / experts), column \(i % experts) is \(slice[i]); logits must be finite")
            }
            return slice
        }

        if files.count == 1 {
            let path = files[0]
            let a = try checked(path)
            let need = tokensPerRank.reduce(0, +)
            guard a.rows >= need else {
                throw fail("\(path): expected at least \(need) rows (the tokens of all \(P) ranks), got \(a.rows)")
            }
            for r in ranks {
                let start = tokensPerRank[..<r].reduce(0, +)
                byRank[r] = try rows(a, path, from: start, count: tokensPerRank[r])
            }
        } else {
            for r in ranks {
                let path = files[r]
                let a = try checked(path)
                guard a.rows >= tokensPerRank[r] else {
                    throw fail("\(path): expected at least \(tokensPerRank[r]) rows (the tokens of rank \(r)), got \(a.rows)")
                }
                byRank[r] = try rows(a, path, from: 0, count: tokensPerRank[r])
            }
        }
        logitsByRank = byRank
    }
}
