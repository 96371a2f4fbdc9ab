#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import EpsimCore

/// What `epsim estimate` was asked to do.
public struct EstimateOptions: Sendable {
    public var configPath: String
    public var overrides: [String]
    /// P, the world to decide for (nil: the config's `ranks`).
    public var ranks: Int?
    /// The target system every step is modeled on.
    public var system: String
    /// Result JSON (schema epsim.result/1).
    public var output: String?
    /// Routing dump, as `epsim run --routing-out`.
    public var routingOut: String?
    public var routingFormat: RoutingFormat = .jsonl
    /// Worker threads (nil: one per online core).
    public var threads: Int?
    /// Print the report (and a progress line).
    public var report = true

    public init(configPath: String, overrides: [String] = [], ranks: Int? = nil, system: String,
                output: String? = nil, routingOut: String? = nil, threads: Int? = nil) {
        self.configPath = configPath
        self.overrides = overrides
        self.ranks = ranks
        self.system = system
        self.output = output
        self.routingOut = routingOut
        self.threads = threads
    }
}

/// `epsim estimate`: a layout's real routing decisions and traffic at any world size,
/// modeled on a target system, in one process (`Estimator`). Its result has the keys of
/// `epsim run --system --modeled-only` (same decisions, loads, traffic and `modeled.*`
/// as that run for the same config, seed and world; docs/estimate.md), measured phases
/// none (zero), and `estimate.*`: wall time, threads, assignments decided per second
/// and the ratio to a plain loop over as many assignments.
public enum Estimate {
    /// The world sizes an estimate accepts.
    public static let rankRange = 1...65_536
    /// The worker threads it accepts.
    public static let threadRange = 1...1024
    /// Above this many ranks the result JSON leaves out the P × P traffic matrices
    /// (`traffic.bytes`, `dispatch_bytes`, `combine_bytes` are null; every per-rank and
    /// total figure stays): 3 · 1024² numbers is about 20 MB of JSON.
    public static let matrixRanks = 1024

    /// Runs the estimate (in this process; `transport` must be a world of one, used to
    /// report errors as every command does) and returns its result.
    @discardableResult
    public static func run(_ options: EstimateOptions, transport: any Transport) throws -> RunResult? {
        guard transport.size == 1 else {
            throw ConfigError(keyPath: "", "estimate runs in one process and uses threads (--threads); start it "
                              + "without mpirun (this launch has \(transport.size) ranks)")
        }
        let started = monotonicSeconds()
        let threads = options.threads ?? onlineCores()
        let (config, system, layout) = try load(options, threads: threads)
        // The notes a run prints: a preset's keys set beside it, unused trace rows.
        if options.report, let note = CompatPreset.overrideNotice(config) { Launcher.printNote(note) }
        if options.report, let note = try? RouterTrace.unusedRowsNotice(config: config, worldSize: layout.ranks) {
            Launcher.printNote(note)
        }
        let dump = try options.routingOut.map {
            try RoutingDump(path: $0, format: options.routingFormat,
                            rows: RoutingDump.rows(config, ranks: layout.ranks), rank: 0)
        }
        let output = try options.output.map { try AtomicFile.Writer(path: $0) }
        let progress = options.report
            ? ProgressLine(total: config.steps * config.model.layers * layout.ranks, unit: "rank-layer", label: "estimate") : nil
        let estimator = try Estimator(config: config, layout: layout, system: system, ranks: layout.ranks,
                                      workers: threads, dump: dump, progress: progress)
        let decideStart = monotonicSeconds()
        try estimator.run()
        let decideSeconds = monotonicSeconds() - decideStart
        try dump?.commit()
        let baseline = plainLoopSeconds(assignments: estimator.assignments, experts: config.model.experts,
                                        workers: estimator.workers)
        var result = makeResult(estimator, hostName: transport.hostName)
        let figures = EstimateFigures(wallSeconds: monotonicSeconds() - started, decideSeconds: decideSeconds,
                                      plainLoopSeconds: baseline, assignments: estimator.assignments,
                                      threads: estimator.workers)
        result.estimate = figures
        if options.report { print(result.terminalReport()) }
        try output?.commit(result.json().serialized() + "\n")
        return result
    }

    /// The config for P ranks (`--ranks` sets `ranks`), checked as a run's is, except
    /// its memory: an estimate's own (`MemoryEstimate.forEstimate`) must fit. The system
    /// is checked against P. Multi-layer gating is refused: layer l > 0 routes the
    /// previous layer's output, which needs the experts' arithmetic.
    static func load(_ o: EstimateOptions, threads: Int) throws -> (SimConfig, SystemSpec, ExpertLayout) {
        if let p = o.ranks, !rankRange.contains(p) {
            throw ConfigError(keyPath: "", "--ranks: \(p) is out of range \(rankRange.lowerBound)...\(rankRange.upperBound)")
        }
        if !threadRange.contains(threads) {
            throw ConfigError(keyPath: "", "--threads: \(threads) is out of range \(threadRange.lowerBound)...\(threadRange.upperBound)")
        }
        var overrides = o.overrides
        if let p = o.ranks { overrides.append("ranks=\(p)") }
        var config = try ConfigLoader.load(path: o.configPath, overrides: overrides)
        if !config.compute.isModeled {
            // No arithmetic, as `run --modeled-only` (whose report this is) sets it.
            config = try ConfigLoader.load(path: o.configPath, overrides: overrides + ["compute=modeled"])
        }
        guard let P = config.ranks else {
            throw ConfigError(file: config.sourcePath, keyPath: "ranks",
                              "not set: give the world size with --ranks P (or `ranks:` in the config)")
        }
        if !rankRange.contains(P) {
            throw ConfigError(file: config.sourcePath, keyPath: "ranks",
                              "\(P) is out of range \(rankRange.lowerBound)...\(rankRange.upperBound) for estimate")
        }
        if case .gating = config.workload, config.model.layers > 1 {
            throw ConfigError(file: config.sourcePath, keyPath: "workload",
                              "gating over \(config.model.layers) layers routes each layer on the previous one's "
                              + "output, which needs the experts' arithmetic: use `epsim run --system` (or set "
                              + "model.layers=1, or a synthetic or trace workload)")
        }
        try ConfigValidator.check(config, worldSize: P)
        let layout = try ExpertLayout(config.placement, experts: config.model.experts, ranks: P)
        let limit = MemoryLimit.current()
        try ConfigLoader.checkTraceHeaders(config, worldSize: P, memory: limit)
        let system = try SystemSpec.load(path: o.system)
        try Simulation.checkRankMap(system, path: o.system, ranks: P)
        let nodes = (0..<P).reduce(0) { max($0, system.node(ofRank: $1)) } + 1
        let memory = MemoryEstimate.forEstimate(config, layout: layout, workers: min(threads, P), nodes: nodes,
                                                dumpBytesPerRecord: o.routingOut == nil ? 0
                                                    : RoutingDump.bytesPerRecord(o.routingFormat))
        if memory.total > limit.bytes {
            let big = memory.largest
            throw ConfigError(file: config.sourcePath, keyPath: "",
                              "estimate of \(P) ranks: \(big.factors) needs an estimated \(memoryText(big.bytes)) of "
                              + "\(big.name); the estimate needs about \(memoryText(memory.total)), more than the "
                              + "\(memoryText(max(0, limit.bytes))) available (\(limit.source))")
        }
        return (config, system, layout)
    }

    /// The run's result from what the estimator decided and counted, as `Simulation`
    /// assembles it from the observers' gathers.
    static func makeResult(_ e: Estimator, hostName: String) -> RunResult {
        let P = e.ranks, config = e.config
        let hosts = Array(repeating: hostName, count: P)
        let peak = processPeakResidentBytes()
        let metrics = RunMetrics(
            ranks: P, steps: config.steps, experts: config.model.experts, scalars: e.scalars,
            expertLoadPerStep: e.expertLoad, auxLossPerStep: e.auxLoss, importanceCV2PerStep: e.importanceCV2,
            peakResidentBytes: Array(repeating: peak, count: P), hosts: hosts,
            capacityPerLayer: e.capacityPerLayer, demand: e.demand, zeroDropFactorPerStep: e.zeroDropFactor,
            layers: config.model.layers)
        let environment = RunEnvironment(estimateOf: P, hosts: hosts)
        let phases = PhaseSummary(seconds: Array(repeating: 0, count: P * config.steps * Phase.allCases.count),
                                  ranks: P, steps: config.steps)
        var result = RunResult(config: config, environment: environment, layout: e.layout, perRank: e.perRank.array,
                               phases: phases, traffic: TrafficMatrix(gathered: e.traffic, ranks: P), metrics: metrics,
                               verification: nil)
        result.modeled = ModeledRun(system: e.system, steps: e.modeled, lastTraffic: e.lastTraffic, ranks: P)
        result.modeledOnly = true
        result.matrixRanks = matrixRanks
        return result
    }

    /// The baseline of `estimate.ratio`: seconds for `workers` threads to visit as many
    /// assignments as were decided, with the least work an assignment can take (read its
    /// expert, count it), over buffers of one rank's size. Measured in the same process,
    /// right after the estimate.
    static func plainLoopSeconds(assignments: Int, experts: Int, workers: Int) -> Double {
        let block = 32_768
        var chosen = [Int32](repeating: 0, count: block)
        var rng = SeededRandom.stream(seed: 1, 0)
        for i in 0..<block { chosen[i] = Int32(rng.next() % UInt64(experts)) }
        let counts = RankSlots<Int>(repeating: 0, count: workers * experts)
        let perWorker = (assignments + workers - 1) / workers
        let started = monotonicSeconds()
        chosen.withUnsafeBufferPointer { c in
            let box = UncheckedBox(c)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                // Each worker counts into its own stack histogram (no shared cache line),
                // written back once.
                withUnsafeTemporaryAllocation(of: Int.self, capacity: experts) { histogram in
                    histogram.initialize(repeating: 0)
                    var left = perWorker
                    while left > 0 {
                        let n = min(left, block)
                        for a in 0..<n { histogram[Int(box.value[a])] += 1 }
                        left -= n
                    }
                    _ = counts.buffer(w * experts, count: experts).update(fromContentsOf: histogram)
                }
            }
        }
        let seconds = monotonicSeconds() - started
        // Read the counts, so the loop is not optimized away.
        var total = 0
        for i in 0..<(workers * experts) { total += counts[i] }
        precondition(total >= assignments, "the plain loop counted \(total) of \(assignments) assignments")
        return seconds
    }

    /// Cores online (at least 1).
    static func onlineCores() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}


/// How long an estimate took and how fast it decided (`estimate.*` in the result).
public struct EstimateFigures: Sendable {
    public var wallSeconds: Double
    /// Seconds deciding and counting (routing, capacity, traffic, model).
    public var decideSeconds: Double
    /// Seconds of the plain loop over as many assignments (`Estimate.plainLoopSeconds`).
    public var plainLoopSeconds: Double
    public var assignments: Int
    public var threads: Int

    /// Assignments decided per second.
    public var assignmentsPerSecond: Double { decideSeconds > 0 ? Double(assignments) / decideSeconds : 0 }
    /// How many times the plain loop's time deciding took.
    public var ratio: Double { plainLoopSeconds > 0 ? decideSeconds / plainLoopSeconds : 0 }

    var json: JSONValue {
        .object([
            ("wall_seconds", .double(wallSeconds)), ("decide_seconds", .double(decideSeconds)),
            ("threads", .int(threads)), ("assignments", .int(assignments)),
            ("assignments_per_second", .double(assignmentsPerSecond)),
            ("plain_loop_seconds", .double(plainLoopSeconds)), ("ratio_to_plain_loop", .double(ratio)),
        ])
    }

    /// The report's line.
    var line: String {
        "estimate: \(assignments) assignments decided in \(String(format2: decideSeconds)) s on \(threads) thread"
            + (threads == 1 ? "" : "s") + " (\(String(format2: assignmentsPerSecond / 1e6)) M/s; a plain loop over them "
            + "\(String(format3: plainLoopSeconds)) s, ratio \(String(format2: ratio))×) · wall \(String(format2: wallSeconds)) s"
    }
}
