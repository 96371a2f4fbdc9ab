import EpsimCore

/// `epsim run`: every rank runs the same loop over warm-up and counted steps; rank 0
/// prints the report and writes the result files.
public enum Simulation {
    /// Runs one layout on `transport` and returns the result on rank 0 (nil elsewhere).
    /// Collective. Bad input (config, world size, trace files, output paths) is agreed on
    /// by all ranks before anything runs, so it is reported once and every rank exits.
    @discardableResult
    public static func run(_ options: RunOptions, transport: any Transport) throws -> RunResult? {
        // Read before anything of ours runs: our own ranks would count as load.
        let host = transport.rank == 0 ? HostLoad.current() : nil
        var overrides = options.overrides
        if options.routingOnly {
            // Placeholders for what routing does not read, and tokens from a trace; agreed
            // on by every rank, so a bad trace is one line and every rank exits.
            let path = options.configPath, given = overrides, size = transport.size
            overrides += try Launcher.agree(transport) {
                try RoutingOnlyConfig.overrides(path: path, overrides: given, worldSize: size)
            }
        }
        if options.modeledOnly, skipsArithmetic(options.configPath, overrides: overrides) {
            // Only modeled times are reported: the host's arithmetic would be wasted. Set
            // before the config is checked, so its memory estimate is the run's.
            overrides.append("compute=modeled")
        }
        let config = try loadConfig(options.configPath, overrides: overrides, transport: transport,
                                    verify: options.verify)
        let system = try options.system.map { try loadSystem($0, transport: transport) }
        let (dump, files) = try Launcher.agree(transport) {
            let dump = try options.routingOut.map {
                try RoutingDump(path: $0, format: options.routingFormat, rows: RoutingDump.rows(config, ranks: transport.size),
                                rank: transport.rank)
            }
            let files = transport.rank == 0 ? try ResultFiles(options) : nil
            return (dump, files)
        }
        var settings = Settings(verify: options.verify, sync: options.sync, trace: options.trace != nil,
                                progress: options.report)
        settings.system = system
        settings.routingOnly = options.routingOnly
        guard var result = try execute(config, transport: transport, settings: settings, dump: dump) else { return nil }
        result.modeledOnly = options.modeledOnly
        result.routingOnly = options.routingOnly
        result.host = host
        if options.report { print(result.terminalReport()) }
        try files?.write(result)
        if let verification = result.verification, !verification.passed {
            Launcher.printError("verification failed: \(verification.summary)")
            throw ReportedFailure()
        }
        return result
    }

    /// `count` runs of the same options (same seed: the same decisions, only the times
    /// differ), for `--repeat`: the results on rank 0 (empty elsewhere), `progress`
    /// advanced after each. Collective.
    public static func runRepeated(_ options: RunOptions, count: Int, transport: any Transport,
                                   progress: ProgressLine?) throws -> [RunResult] {
        var results: [RunResult] = []
        for _ in 0..<count {
            if let result = try run(options, transport: transport) { results.append(result) }
            progress?.advance()
        }
        return results
    }

    /// Loads and checks a config for this world size on every rank; a mistake is
    /// reported once and every rank throws. Collective.
    ///
    /// The memory check counts the ranks that share this machine's memory: every rank
    /// with the emulated transport; under MPI the ranks mpirun placed on this node
    /// (`Launcher.nodeRanks`), or this rank alone when the launcher does not say.
    public static func loadConfig(_ path: String, overrides: [String], transport: any Transport,
                                  verify: Bool = false) throws -> SimConfig {
        let sharing = transport.ranksShareProcess ? 0..<transport.size
            : Launcher.nodeRanks(rank: transport.rank, size: transport.size)
        let config = try Launcher.agree(transport) { () throws -> SimConfig in
            let config = try ConfigLoader.load(path: path, overrides: overrides)
            try ConfigLoader.validate(config, worldSize: transport.size, processRanks: sharing,
                                      ranksInProcess: transport.ranksShareProcess ? transport.size : 1,
                                      verify: verify)
            return config
        }
        if transport.rank == 0, let note = CompatPreset.overrideNotice(config) { Launcher.printNote(note) }
        // Trace rows beyond the run's tokens (validated above, so the headers read).
        if transport.rank == 0, let note = try? RouterTrace.unusedRowsNotice(config: config, worldSize: transport.size) {
            Launcher.printNote(note)
        }
        return config
    }

    /// Whether `--modeled-only` may run the experts without arithmetic: only when that
    /// leaves every decision as it is. With real gating over several layers, a layer's
    /// routing reads the previous layer's output, which modeled experts (zeros) would
    /// change, and with it the traffic the model is given. A config that does not load
    /// says nothing here: `loadConfig` reports it.
    static func skipsArithmetic(_ path: String, overrides: [String]) -> Bool {
        guard let c = try? ConfigLoader.load(path: path, overrides: overrides), !c.compute.isModeled else { return false }
        if case .gating = c.workload, c.model.layers > 1 { return false }
        return true
    }

    /// Loads a target system file on every rank and checks it against the world size
    /// (a `rank_map` lists every rank's node, nodes numbered below the rank count); a
    /// mistake is reported once and every rank throws. Collective.
    ///
    /// `forRun: false` (comparing result files only, nothing run on this world) skips the
    /// check against the world size.
    public static func loadSystem(_ path: String, transport: any Transport, forRun: Bool = true) throws -> SystemSpec {
        try Launcher.agree(transport) { () throws -> SystemSpec in
            let system = try SystemSpec.load(path: path)
            if forRun { try checkRankMap(system, path: path, ranks: transport.size) }
            return system
        }
    }

    /// A system's `rank_map` (when it has one) lists the node of each of `ranks` ranks,
    /// nodes numbered below the rank count; `ConfigError` at `rank_map` otherwise.
    public static func checkRankMap(_ system: SystemSpec, path: String, ranks: Int) throws(ConfigError) {
        guard let map = system.rankMap else { return }
        if map.count != ranks {
            throw ConfigError(file: path, keyPath: "rank_map", "\(map.count) entries for \(ranks) ranks: list the node of every rank")
        }
        if let node = map.first(where: { $0 >= ranks }) {
            throw ConfigError(file: path, keyPath: "rank_map",
                              "node \(node) on a run of \(ranks) ranks: number the nodes from 0, below the rank count")
        }
    }

    /// How `execute` runs, besides the config.
    public struct Settings: Sendable {
        public var verify = false
        public var sync = false
        /// Keep every timed interval for a trace file.
        public var trace = false
        /// Progress on stderr (`ProgressLine`: rank 0, runs over two seconds).
        public var progress = false
        /// Record the last counted step's exchanges and expert blocks (`StepShapes`) and
        /// every counted step's stage times (`PhaseTimer.stageSeconds`), for `epsim bench`.
        public var recordLastStep = false
        /// Model every counted step on this system (`ModeledRun`).
        public var system: SystemSpec? = nil
        /// Route and decide only (`MoERank.routingOnly`).
        public var routingOnly = false

        public init(verify: Bool = false, sync: Bool = false, trace: Bool = false, progress: Bool = false) {
            self.verify = verify
            self.sync = sync
            self.trace = trace
            self.progress = progress
        }
    }

    /// Runs the warm-up and counted steps of `config` on every rank (collective) and
    /// returns the result on rank 0 (nil elsewhere). Setup errors (placement, trace
    /// files) are agreed on by all ranks first.
    public static func execute(_ config: SimConfig, transport: any Transport, verify: Bool = false,
                               dump: RoutingDump? = nil) throws -> RunResult? {
        try execute(config, transport: transport, settings: Settings(verify: verify), dump: dump)
    }

    /// What `execute`'s `after` sees on each rank: the layer stack, its timer and, with
    /// `Settings.recordLastStep`, the last counted step's shapes.
    public struct Finished {
        public let rank: MoERank
        public let timer: PhaseTimer
        public let shapes: StepShapes?
    }

    /// `after` runs on every rank once the counted steps are done, before anything is
    /// gathered, with the rank's layer stack (e.g. for benchmarks on the same buffers).
    public static func execute(_ config: SimConfig, transport: any Transport, settings: Settings,
                               dump: RoutingDump? = nil,
                               after: ((Finished) throws -> Void)? = nil) throws -> RunResult? {
        let heartbeat = Heartbeats.slot(rank: transport.rank)
        heartbeat?.enter(.setup)
        let (moe, fault) = try Launcher.agree(transport) {
            (try MoERank(config: config, rank: transport.rank, worldSize: transport.size),
             try FaultInjection.fromEnvironment())
        }
        moe.synchronize = settings.sync
        moe.routingOnly = settings.routingOnly
        // No exchange of this layout can carry more than every assignment of the world
        // at the widest row: the same bound on every rank, from the config alone.
        transport.promiseExchangeBound(bytes: exchangeBound(config, ranks: transport.size))
        defer { transport.promiseExchangeBound(bytes: nil) }
        let P = transport.size, L = config.model.layers
        // Per layer: route, the decisions and shared; per chunk at most 11 more (pack,
        // wait, dispatch start and wait, unpack, expert, encode, wait, combine start and
        // wait, unpack); plus the step itself.
        let perLayer = 3 + 11 * config.overlapChunks
        let timer = PhaseTimer(steps: config.steps, eventsPerStep: settings.trace ? perLayer * L + 1 : 0,
                               stages: settings.recordLastStep)
        timer.heartbeat = heartbeat
        // The observers, in the order they run after each counted step (every rank adds
        // them alike, so the recorder's allreduce and the dump's gathers stay matched).
        let accounting = StepAccounting(ranks: P)
        let recorder = StepRecorder(steps: config.steps, experts: config.model.experts, layers: L,
                                    accounting: accounting)
        moe.observers.add(accounting)
        moe.observers.add(recorder)
        if let dump { moe.observers.add(dump) }
        let shapes = settings.recordLastStep
            ? StepShapes(hidden: config.model.hidden, decoded: !config.compute.isModeled)
            : nil
        if let shapes { moe.observers.add(shapes) }
        let model = settings.system.map {
            ModelObserver(system: $0, config: config, ranks: P, localExperts: moe.layout.local[transport.rank].count)
        }
        if let model { moe.observers.add(model) }
        let progress = settings.progress && transport.rank == 0 ? ProgressLine(total: config.warmupSteps + config.steps) : nil
        var verification: Verification? = nil
        let lastStep = config.warmupSteps + config.steps - 1
        try transport.barrier()
        timer.start()
        for step in 0...lastStep {
            let counted = step - config.warmupSteps
            timer.begin(step: counted)
            timer.layer = -1
            heartbeat?.enter(step: step)
            fault?.apply(rank: transport.rank, step: step, timer: timer)
            shapes?.recording = step == lastStep
            moe.prepareInputs(step: step)
            try timer.time(.step) { try moe.step(step, transport: transport, timer: timer, prepared: true) }
            progress?.update(done: step + 1)
            guard counted >= 0 else { continue }
            try moe.observers.stepFinished(counted, rank: moe, transport: transport)
            if settings.verify && step == lastStep {
                heartbeat?.enter(.verify)
                verification = try Verifier.verify(moe, step: step, transport: transport)
            }
        }
        shapes?.recording = false
        progress?.finish()
        heartbeat?.enter(.results)
        try after?(Finished(rank: moe, timer: timer, shapes: shapes))
        let perRank = try recorder.totals.gathered(transport)
        let trafficMatrix = try transport.gather(accounting.traffic)
        let phaseSeconds = try transport.gather(timer.seconds)
        let metrics = try RunMetrics.gather(recorder, transport: transport)
        let events = settings.trace ? try gatherEvents(timer, transport: transport) : []
        try dump?.commit()
        guard transport.rank == 0, let metrics else { return nil }
        var result = RunResult(
            config: config, environment: RunEnvironment(transport: transport, hosts: metrics.hosts, sync: settings.sync),
            layout: moe.layout, perRank: perRank,
            phases: PhaseSummary(seconds: phaseSeconds, ranks: P, steps: config.steps),
            traffic: TrafficMatrix(gathered: trafficMatrix, ranks: P), metrics: metrics,
            events: events, verification: verification)
        if let system = settings.system, let model {
            result.modeled = ModeledRun(system: system, steps: model.modeled, lastTraffic: model.lastTraffic, ranks: P)
        }
        return result
    }

    /// The largest count or displacement, in bytes, any exchange of `config` can have on
    /// `ranks` ranks: every assignment of the world (Σ T_r · k) at the widest wire row
    /// (a dispatch row includes its `DedupHeader` with `dispatch.dedup: rank`).
    /// nil when it overflows (then the transport agrees on each exchange's path).
    static func exchangeBound(_ config: SimConfig, ranks: Int) -> Int? {
        let assignments = config.worldTokens(size: ranks) * config.model.topK
        let header = config.dispatch.dedup == .rank ? DedupHeader.bytes(topK: config.model.topK) : 0
        let row = max(header + WireCodec.bytesPerRow(config.precision.dispatch, hidden: config.model.hidden),
                      WireCodec.bytesPerRow(config.precision.combine, hidden: config.model.hidden))
        let (bytes, overflow) = assignments.multipliedReportingOverflow(by: row)
        return overflow ? nil : bytes
    }

    /// Every rank's recorded intervals, to rank 0: [rank] of flat event arrays.
    private static func gatherEvents(_ timer: PhaseTimer, transport: any Transport) throws -> [[Double]] {
        try transport.gatherArrays(Array(timer.events.prefix(timer.eventCount * PhaseTimer.eventFields)))
    }
}
