import ArgumentParser
import EpsimCore
import EpsimRuntime

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a config over the cross product of overrides and mark the Pareto front.",
        discussion: """
            Example: epsim sweep --config configs/skewed.yaml --emulate 4 \
            --vary capacity.factor=1.0,1.25,2.0 --vary overflow.policy=drop,reroute
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var watchdog: WatchdogOptions

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp(
        "A config key and the values to try, e.g. capacity.factor=1.0,1.25 (repeatable).", valueName: "key=v1,v2,..."))
    var vary: [String] = []

    @Flag(name: .long, help: "Barrier before each communication phase (see `epsim run --sync`).")
    var sync = false

    @Option(name: .long, help: ArgumentHelp(
        "Rank the points by times modeled on this target system (YAML) instead of this host's.", valueName: "file"))
    var system: String?

    @Option(name: .long, help: ArgumentHelp("Write one CSV row per point.", valueName: "file"))
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
        let svg = svg
        let code = Launcher.run(common.transport, timeout: watchdog.timeout) { transport in
            var summaries: [LayoutSummary] = []
            // Every point's config and both outputs are checked before the first point
            // runs, on every rank at once: a bad value costs a line, not the points before it.
            for point in points {
                _ = try Simulation.loadConfig(config, overrides: base + point, transport: transport)
            }
            if let system { _ = try Simulation.loadSystem(system, transport: transport) }
            let outputs = try Launcher.agree(transport) { () throws -> [AtomicFile.Writer?] in
                transport.rank == 0 ? try [csv, output, svg].map { try $0.map { try AtomicFile.Writer(path: $0) } } : []
            }
            for point in points {
                let options = RunOptions(configPath: config, overrides: base + point, sync: sync, report: false,
                                         system: system)
                if let result = try Simulation.run(options, transport: transport) {
                    summaries.append(LayoutSummary(name: point.joined(separator: " "), result: result))
                }
            }
            guard transport.rank == 0 else { return }
            let rows = Sweep.rows(overrides: points, summaries: summaries)
            print(Sweep.text(rows, axes: axes))
            try outputs[0]?.commit(Sweep.csv(rows, axes: axes))
            try outputs[1]?.commit(Sweep.json(rows, axes: axes, config: config).serialized() + "\n")
            try outputs[2]?.commit(SweepChart(rows: rows, title: "epsim sweep · \(config)").svg())
        }
        if code != 0 { throw ExitCode(code) }
    }
}
