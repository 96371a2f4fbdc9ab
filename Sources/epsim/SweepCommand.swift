import ArgumentParser
import EpsimCore
import EpsimRuntime

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a config over the cross product of overrides and mark the Pareto front.",
        discussion: """
            Example: epsim sweep --config configs/skewed.yaml --emulate 4 \
            --vary capacity.factor=1.0,1.25,2.0 --vary overflow.policy=drop,reroute. \
            --csv and --output are rewritten after every point, so a sweep that fails keeps \
            the points it finished. With --repeat N each point runs N times: step times are \
            medians with their range, and a Pareto mark inside that noise is marked ~.
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var watchdog: WatchdogOptions
    @OptionGroup var repeats: RepeatOptions

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp(
        "A config key and the values to try, e.g. capacity.factor=1.0,1.25 (repeatable).", valueName: "key=v1,v2,..."))
    var vary: [String] = []

    @Flag(name: .long, help: "Barrier before each communication phase (see `epsim run --sync`).")
    var sync = false

    @Option(name: .long, help: ArgumentHelp(
        "Rank the points by times modeled on this target system (YAML) instead of this host's.", valueName: "file"))
    var system: String?

    @Option(name: .long, help: ArgumentHelp("Write one CSV row per point (rewritten as each point finishes).", valueName: "file"))
    var csv: String?

    @Option(name: .long, help: ArgumentHelp("Write the sweep as JSON (schema epsim.sweep/1).", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Plot step time against drop rate, the Pareto front marked, as an SVG image.",
                                            valueName: "file"))
    var svg: String?

    func validate() throws {
        if vary.isEmpty { throw ValidationError("sweep: expected at least one --vary key=v1,v2,...") }
        var keys: Set<String> = []
        for v in vary {
            let axis: Sweep.Axis
            do { axis = try Sweep.Axis(parsing: v) } catch { throw ValidationError("\(error)") }
            guard keys.insert(axis.key).inserted else {
                throw ValidationError("--vary \(axis.key): given twice; list every value once, e.g. --vary \(axis.key)=a,b,c")
            }
        }
        try checkOutputs([("--csv", csv), ("--output", output), ("--svg", svg)],
                         inputs: [("--config", common.config)] + (system.map { [("--system", $0)] } ?? []))
    }

    func run() throws {
        let axes = try vary.map { try Sweep.Axis(parsing: $0) }
        let points = Sweep.points(axes)
        let config = common.config, base = common.overrides, sync = sync, csv = csv, output = output, system = system
        let repeatCount = repeats.count
        let svg = svg
        let code = Launcher.run(common.transport, timeout: watchdog.timeout) { transport in
            // Read before anything of ours runs: our own ranks would count as load.
            let host = transport.rank == 0 ? HostLoad.current() : nil
            var summaries: [LayoutSummary] = []
            // Every point's config and every output are checked before the first point
            // runs, on every rank at once: a bad value costs a line, not the points before it.
            for point in points {
                _ = try Simulation.loadConfig(config, overrides: base + point, transport: transport)
            }
            if let system { _ = try Simulation.loadSystem(system, transport: transport) }
            let (files, picture) = try Launcher.agree(transport) { () throws -> (Sweep.Files?, AtomicFile.Writer?) in
                transport.rank == 0 ? (try Sweep.Files(csv: csv, json: output), try svg.map { try AtomicFile.Writer(path: $0) })
                    : (nil, nil)
            }
            if let warning = host?.measuredTimesWarning(ranksOnHost: HostLoad.ranksOnFirstHost(transport),
                                                        modeled: system != nil) {
                print(warning)
            }
            // The files say from the start that this sweep has not finished (no stale
            // points of an earlier one stay in them while it runs).
            try Launcher.agree(transport) { try files?.write([], axes: axes, config: config, finished: false) }
            let progress = transport.rank == 0 ? ProgressLine(total: points.count * repeatCount, unit: "run", label: "sweep") : nil
            for point in points {
                let options = RunOptions(configPath: config, overrides: base + point, sync: sync, report: false,
                                         system: system)
                let results = try Simulation.runRepeated(options, count: repeatCount, transport: transport,
                                                         progress: progress)
                if !results.isEmpty { summaries.append(LayoutSummary(name: point.joined(separator: " "), results: results)) }
                // Each finished point is on disk before the next starts (every rank
                // learns of a failed write and stops).
                let finished = summaries.count == points.count
                try Launcher.agree(transport) {
                    try files?.write(Sweep.rows(overrides: points, summaries: summaries), axes: axes, config: config,
                                     finished: finished)
                }
            }
            progress?.finish()
            guard transport.rank == 0 else { return }
            let rows = Sweep.rows(overrides: points, summaries: summaries)
            print(Sweep.text(rows, axes: axes))
            try picture?.commit(SweepChart(rows: rows, title: "epsim sweep · \(config)").svg())
        }
        if code != 0 { throw ExitCode(code) }
    }
}
