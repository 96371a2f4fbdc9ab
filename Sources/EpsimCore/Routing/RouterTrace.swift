/// A recorded router trace for the `trace` and `topk_trace` workloads (docs/traces.md),
/// read for the ranks a process routes.
///
/// Sources: one split across ranks (rank r takes rows [T_0 + ... + T_{r-1}, + T_r) of
/// every (step, layer) slab, so a slab needs at least Σ T_r rows), or one per rank (rank
/// r takes the first T_r rows of each slab of source r; every source has the same steps
/// and layers). Fewer rows than that is an error; more are left unused
/// (`unusedRowsNotice` says how many).
///
/// Replay: a source without a layer axis ([tokens, E]) serves every layer; one with a
/// layer axis must have exactly `model.layers` layers, and layer l replays trace layer
/// l. A source without a step axis serves every step; one with S steps replays trace
/// step s mod S at counted step s (the warm-up steps replay trace steps 0, 1, ... as
/// well, so counted step s, the routing dump's step s, is always trace step s mod S).
///
/// Values: logits finite; top-k indices in [0, E), none twice in a token; top-k weights
/// finite and ≥ 0. Every problem is a one-line `ConfigError` at the source's key naming
/// the file, where, and the value.
public struct RouterTrace: Sendable, Equatable {
    /// E: experts.
    public let experts: Int
    /// k of a top-k trace; nil for a logits trace.
    public let topK: Int?
    /// S: trace steps (1 when the trace has no step axis).
    public let steps: Int
    /// Layer slabs: `model.layers`, or 1 when one slab serves every layer.
    public let layers: Int
    /// W: the run's warm-up steps (see `slab(step:layer:)`).
    public let warmupSteps: Int
    /// Logits trace: rank -> [S × layers × T_r × E], row-major, for the ranks loaded.
    public let logitsByRank: [Int: [Float]]
    /// Top-k trace: rank -> expert indices [S × layers × T_r × k].
    public let expertsByRank: [Int: [Int32]]
    /// Top-k trace: rank -> slot weights [S × layers × T_r × k].
    public let weightsByRank: [Int: [Float]]

    /// Logits given in memory (tests that replay another program's logits, such as the
    /// peer fixtures of `router.compat`): rank -> [T_r × E] row-major, every entry
    /// finite, the same for every step and layer.
    public init(experts: Int, logitsByRank: [Int: [Float]]) {
        precondition(logitsByRank.values.allSatisfy { $0.count % experts == 0 && $0.allSatisfy(\.isFinite) },
                     "trace rows must be [T × \(experts)] finite floats")
        self.experts = experts
        self.logitsByRank = logitsByRank
        topK = nil
        steps = 1
        layers = 1
        warmupSteps = 0
        expertsByRank = [:]
        weightsByRank = [:]
    }

    /// The slab run step `step` (warm-up included, from 0) and `layer` replay:
    /// trace step (step < W ? step : step − W) mod S, and layer `layer` (0 when one slab
    /// serves every layer); index s · layers + l.
    public func slab(step: Int, layer: Int) -> Int {
        let counted = step < warmupSteps ? step : step - warmupSteps
        return (counted % steps) * layers + (layers == 1 ? 0 : layer)
    }

    /// Loads the rows of `ranks` (nil: every rank) for the trace or topk_trace workload
    /// of `config`. Errors are `ConfigError`s naming the file and the problem.
    public init(config: SimConfig, worldSize: Int, ranks: [Int]? = nil) throws(ConfigError) {
        let spec = try RouterSpec(config: config, worldSize: worldSize)
        let ranks = ranks ?? Array(0..<worldSize)
        let origin = config.origin(of: "workload") ?? config.sourcePath
        switch config.workload {
        case let .trace(files, dtype):
            try self.init(files: files, bf16: dtype == .bf16, experts: spec.experts, layers: spec.layers,
                          warmupSteps: config.warmupSteps, tokensPerRank: spec.tokensPerRank, ranks: ranks,
                          configFile: origin)
        case let .topkTrace(ids, weights, dtype):
            try self.init(ids: ids, weights: weights, bf16: dtype == .bf16, experts: spec.experts, topK: spec.topK,
                          layers: spec.layers, warmupSteps: config.warmupSteps, tokensPerRank: spec.tokensPerRank,
                          ranks: ranks, configFile: origin)
        default:
            preconditionFailure("RouterTrace needs a trace workload, got \(config.workload.name)")
        }
    }

    /// The trace `config` routes from: loaded for `ranks` (nil: every rank) when the
    /// workload is a trace, nil for every other workload.
    public static func loadIfNeeded(config: SimConfig, worldSize: Int, ranks: [Int]? = nil) throws(ConfigError) -> RouterTrace? {
        guard config.workload.isTrace else { return nil }
        return try RouterTrace(config: config, worldSize: worldSize, ranks: ranks)
    }

    /// Loads the logits of `ranks` from `files` (one source split across ranks, or one
    /// per rank), for a model of `layers` layers and `experts` experts.
    public init(
        files: [String], bf16: Bool = false, experts: Int, layers: Int = 1, warmupSteps: Int = 0,
        tokensPerRank: [Int], ranks: [Int], configFile: String? = nil
    ) throws(ConfigError) {
        let key = NpyReader.keyPath
        let plan = try RouterTrace.plan(files, key: key, bf16: bf16, columns: (experts, "model.experts"), layers: layers,
                                        tokensPerRank: tokensPerRank, ranks: ranks, configFile: configFile)
        var byRank: [Int: [Float]] = [:]
        try RouterTrace.load(plan, configFile: configFile) { (r: Int, source: TraceSource, slab: Int, raw: NpyRaw, start: Int, count: Int) throws(ConfigError) in
            let values = raw.floats(from: start, count: count)
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                let at = source.location(slab: slab, element: start - RouterTrace.slabStart(source, slab) + i)
                throw ConfigError(file: configFile, keyPath: key, "\(at.file): \(at.text) is \(values[i]); logits must be finite")
            }
            byRank[r, default: []].append(contentsOf: values)
        }
        self.experts = experts
        topK = nil
        steps = plan.steps
        self.layers = plan.layers
        self.warmupSteps = warmupSteps
        logitsByRank = byRank
        expertsByRank = [:]
        weightsByRank = [:]
    }

    /// Loads the top-k choices of `ranks`: `ids` (int32 or int64 expert indices) and
    /// `weights` (floats), each one source split across ranks or one per rank, of the
    /// same shape [.., tokens, k].
    public init(
        ids: [String], weights: [String], bf16: Bool = false, experts: Int, topK: Int, layers: Int = 1,
        warmupSteps: Int = 0, tokensPerRank: [Int], ranks: [Int], configFile: String? = nil
    ) throws(ConfigError) {
        let idKey = "workload.topk_ids", weightKey = "workload.topk_weights"
        let idPlan = try RouterTrace.plan(ids, key: idKey, bf16: false, columns: (topK, "model.top_k"), layers: layers,
                                          tokensPerRank: tokensPerRank, ranks: ranks, configFile: configFile, integers: true)
        let weightPlan = try RouterTrace.plan(weights, key: weightKey, bf16: bf16, columns: (topK, "model.top_k"),
                                              layers: layers, tokensPerRank: tokensPerRank, ranks: ranks,
                                              configFile: configFile)
        for (a, b) in zip(idPlan.sources, weightPlan.sources) {
            guard (a.steps, a.layers, a.rows, a.layered) == (b.steps, b.layers, b.rows, b.layered) else {
                throw ConfigError(file: configFile, keyPath: weightKey,
                                  "\(b.path) is \(b.shapeText), \(a.path) is \(a.shapeText); weights and indices must have one shape")
            }
        }
        try ConfigValidator.checkTopKSourceCounts(ids: ids.count, weights: weights.count, origin: configFile)
        var chosen: [Int: [Int32]] = [:]
        try RouterTrace.load(idPlan, configFile: configFile) { (r: Int, source: TraceSource, slab: Int, raw: NpyRaw, start: Int, count: Int) throws(ConfigError) in
            let values = raw.integers(from: start, count: count)
            let base = start - RouterTrace.slabStart(source, slab)
            for i in 0..<count where !(0..<Int64(experts)).contains(values[i]) {
                let at = source.location(slab: slab, element: base + i)
                throw ConfigError(file: configFile, keyPath: idKey,
                                  "\(at.file): \(at.text) is expert \(values[i]); indices must be in [0, \(experts)) (model.experts)")
            }
            for t in 0..<(count / topK) {
                for j in 1..<max(topK, 1) {
                    let v = values[t * topK + j]
                    if values[(t * topK)..<(t * topK + j)].contains(v) {
                        let at = source.location(slab: slab, element: base + t * topK + j)
                        throw ConfigError(file: configFile, keyPath: idKey, "\(at.file): \(at.text) repeats expert \(v) in its token")
                    }
                }
            }
            chosen[r, default: []].append(contentsOf: values.map { Int32($0) })
        }
        var slotWeights: [Int: [Float]] = [:]
        try RouterTrace.load(weightPlan, configFile: configFile) { (r: Int, source: TraceSource, slab: Int, raw: NpyRaw, start: Int, count: Int) throws(ConfigError) in
            let values = raw.floats(from: start, count: count)
            if let i = values.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
                let at = source.location(slab: slab, element: start - RouterTrace.slabStart(source, slab) + i)
                throw ConfigError(file: configFile, keyPath: weightKey,
                                  "\(at.file): \(at.text) is \(values[i]); weights must be finite and ≥ 0")
            }
            slotWeights[r, default: []].append(contentsOf: values)
        }
        self.experts = experts
        self.topK = topK
        steps = idPlan.steps
        self.layers = idPlan.layers
        self.warmupSteps = warmupSteps
        logitsByRank = [:]
        expertsByRank = chosen
        weightsByRank = slotWeights
    }

    /// The sources' headers, checked against the model and the ranks' tokens.
    struct Plan {
        var sources: [TraceSource]
        var steps: Int
        var layers: Int
        var tokensPerRank: [Int]
        var ranks: [Int]
    }

    /// Reads every source's header (all of them, so every process checks the same
    /// things) and checks columns, layers, agreement between per-rank sources, and rows.
    static func plan(
        _ paths: [String], key: String, bf16: Bool, columns: (count: Int, name: String), layers: Int,
        tokensPerRank: [Int], ranks: [Int], configFile: String?, integers: Bool = false, memoryLimit: Double? = nil
    ) throws(ConfigError) -> Plan {
        let P = tokensPerRank.count
        func fail(_ message: String) -> ConfigError { ConfigError(file: configFile, keyPath: key, message) }
        try ConfigValidator.checkTraceFiles(paths.count, worldSize: P, origin: configFile, key: key)
        for r in ranks { precondition((0..<P).contains(r), "rank \(r) out of range 0..<\(P)") }
        var sources: [TraceSource] = []
        for path in paths {
            let s = try TraceSource.inspect(path, key: key, bf16: bf16, configFile: configFile, memoryLimit: memoryLimit)
            guard s.element.isFloat != integers else {
                throw fail("\(path): expected " + (integers ? "int32 or int64 expert indices"
                                                 : key == NpyReader.keyPath ? "float logits (float32, float16 or bfloat16)"
                                                 : "float weights (float32, float16 or bfloat16)")
                           + ", got \(s.element.rawValue)")
            }
            guard s.cols == columns.count else {
                throw fail("\(path): expected \(columns.count) columns (\(columns.name)), got \(s.cols)\(s.layered ? " (shape \(s.shapeText))" : "")")
            }
            guard !s.layered || s.layers == layers else {
                throw fail("\(path): shape \(s.shapeText) has \(s.layers) layers, model.layers is \(layers)")
            }
            if let first = sources.first, (first.steps, first.layered) != (s.steps, s.layered) {
                throw fail("\(path) is \(s.shapeText), \(first.path) is \(first.shapeText); per-rank sources need the same steps and layers")
            }
            sources.append(s)
        }
        if sources.count == 1 {
            let need = tokensPerRank.reduce(0, +)
            guard sources[0].rows >= need else {
                throw fail("\(paths[0]): expected at least \(need) rows (the tokens of all \(P) ranks), got \(sources[0].rows)"
                           + (sources[0].layered ? " per step and layer (shape \(sources[0].shapeText))" : ""))
            }
        } else {
            for r in 0..<P where sources[r].rows < tokensPerRank[r] {
                throw fail("\(paths[r]): expected at least \(tokensPerRank[r]) rows (the tokens of rank \(r)), got \(sources[r].rows)"
                           + (sources[r].layered ? " per step and layer (shape \(sources[r].shapeText))" : ""))
            }
        }
        return Plan(sources: sources, steps: sources[0].steps, layers: sources[0].layered ? layers : 1,
                    tokensPerRank: tokensPerRank, ranks: ranks)
    }

    /// The element where `slab` starts in its array.
    static func slabStart(_ source: TraceSource, _ slab: Int) -> Int {
        source.files.count == 1 ? slab * source.rows * source.cols : 0
    }

    /// Reads each source once and hands `take` every loaded rank's rows of every slab,
    /// in slab order: (rank, source, slab, array, first element, element count).
    static func load(
        _ plan: Plan, configFile: String?,
        _ take: (Int, TraceSource, Int, NpyRaw, Int, Int) throws(ConfigError) -> Void
    ) throws(ConfigError) {
        let T = plan.tokensPerRank
        if plan.sources.count == 1 {
            let source = plan.sources[0]
            guard !plan.ranks.isEmpty else { return }
            try source.forEachSlab(configFile: configFile, decodedWidth: 4) { (slab: Int, raw: NpyRaw, start: Int) throws(ConfigError) in
                for r in plan.ranks {
                    let first = T[..<r].reduce(0, +)
                    try take(r, source, slab, raw, start + first * source.cols, T[r] * source.cols)
                }
            }
        } else {
            for r in plan.ranks {
                let source = plan.sources[r]
                try source.forEachSlab(configFile: configFile, decodedWidth: 4) { (slab: Int, raw: NpyRaw, start: Int) throws(ConfigError) in
                    try take(r, source, slab, raw, start, T[r] * source.cols)
                }
            }
        }
    }

    /// One line saying how many trace rows per step and layer the run leaves unused
    /// (rows beyond the tokens: Σ T_r of a split source, T_r of rank r's own), or nil
    /// when every row is used or the workload is not a trace. Reads headers only.
    public static func unusedRowsNotice(config: SimConfig, worldSize P: Int) throws(ConfigError) -> String? {
        // A top-k trace's rows are its indices' (the weights have the same shape).
        let paths: [String], key: String, bf16: Bool
        switch config.workload {
        case let .trace(files, dtype): (paths, key, bf16) = (files, NpyReader.keyPath, dtype == .bf16)
        case let .topkTrace(ids, _, _): (paths, key, bf16) = (ids, "workload.topk_ids", false)
        default: return nil
        }
        let tokens = (0..<P).map { config.tokens(rank: $0, size: P) }
        let origin = config.origin(of: "workload") ?? config.sourcePath
        var lines: [String] = []
        for (r, path) in paths.enumerated() {
            let rows = try TraceSource.inspect(path, key: key, bf16: bf16, configFile: origin).rows
            let used = paths.count == 1 ? tokens.reduce(0, +) : tokens[r]
            if rows > used { lines.append("\(path) has \(rows) rows per step and layer, the run uses the first \(used); \(rows - used) unused") }
        }
        return lines.isEmpty ? nil : "trace: " + lines.joined(separator: "; ")
    }
}

extension RouterTrace {
    /// Writes the top-k trace's decisions for `rank` at (`step`, `layer`) into `out`:
    /// `chosen` and `weights` [T × k] the slab's rows; `preference` [T × E] those k, then
    /// every other expert by ascending index; `scores` [T × E] each chosen slot's weight
    /// at its expert, 0 elsewhere; `logits` 0 (a top-k trace records none). No allocation.
    public func replayTopK(step: Int, rank: Int, layer: Int, into out: inout RouterOutput) {
        guard let k = topK, let ids = expertsByRank[rank], let w = weightsByRank[rank] else {
            preconditionFailure("top-k trace rows of rank \(rank) were not loaded")
        }
        let T = out.tokens, E = out.experts
        precondition(out.topK == k && E == experts)
        let start = slab(step: step, layer: layer) * T * k
        ids.withUnsafeBufferPointer { ids in
        w.withUnsafeBufferPointer { w in
        out.chosen.withUnsafeMutableBufferPointer { chosen in
        out.weights.withUnsafeMutableBufferPointer { weights in
        out.preference.withUnsafeMutableBufferPointer { preference in
        out.scores.withUnsafeMutableBufferPointer { scores in
        // taken[e] == t + 1: expert e is one of token t's choices (one pass over E per
        // token for the preference's tail, not one over the k choices per expert).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: E) { taken in
            taken.initialize(repeating: 0)
            for t in 0..<T {
                let c = start + t * k
                var next = k
                for e in 0..<E { scores[t * E + e] = 0 }
                for j in 0..<k {
                    chosen[t * k + j] = ids[c + j]
                    weights[t * k + j] = w[c + j]
                    preference[t * E + j] = ids[c + j]
                    taken[Int(ids[c + j])] = t + 1
                    scores[t * E + Int(ids[c + j])] = w[c + j]
                }
                for e in 0..<E where taken[e] != t + 1 {
                    preference[t * E + next] = Int32(e)
                    next += 1
                }
            }
        }
        }}}}}}
        out.logits.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
    }
}
