import ArgumentParser
import EpsimCore
import EpsimRuntime

struct EstimateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract: "Decide and model a layout at any world size in one process (no payloads, no expert arithmetic).",
        discussion: """
            Runs every rank's real routing decisions (router, capacity, overflow, placement) for the \
            counted steps, builds the exact per-pair traffic at the wire precision and models every \
            phase on the target system: the report and the result's `modeled.*` keys are those of \
            `epsim run --system --modeled-only` for the same config and world (docs/estimate.md). \
            Runs in one process on --threads worker threads; do not start it under mpirun.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The layout to estimate (YAML).", valueName: "file"))
    var config: String

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a config key, e.g. --set capacity.factor=1.5 (repeatable).",
                               valueName: "key=value"))
    var overrides: [String] = []

    @Option(name: .long, help: ArgumentHelp("The target system to model every step on (YAML).", valueName: "file"))
    var system: String

    @Option(name: .long, help: ArgumentHelp(
        "The world size P (default: the config's `ranks`), \(Estimate.rankRange.lowerBound)...\(Estimate.rankRange.upperBound).",
        valueName: "P"))
    var ranks: Int?

    @Option(name: .long, help: ArgumentHelp("Write the result (schema epsim.result/1) as JSON.", valueName: "file"))
    var output: String?

    @OptionGroup var dump: RoutingDumpOptions

    @Option(name: .long, help: ArgumentHelp(
        "Worker threads (default: one per online core), \(Estimate.threadRange.lowerBound)...\(Estimate.threadRange.upperBound).",
        valueName: "N"))
    var threads: Int?

    func validate() throws {
        if let size = Launcher.mpiWorldSize, size > 1 {
            throw ValidationError("estimate: runs in one process on --threads threads, but mpirun started \(size) "
                                  + "processes; start it without mpirun")
        }
        if let p = ranks, !Estimate.rankRange.contains(p) {
            throw ValidationError("--ranks: expected \(Estimate.rankRange.lowerBound)...\(Estimate.rankRange.upperBound), got \(p)")
        }
        if let n = threads, !Estimate.threadRange.contains(n) {
            throw ValidationError("--threads: expected \(Estimate.threadRange.lowerBound)...\(Estimate.threadRange.upperBound), got \(n)")
        }
        for o in overrides where !o.contains("=") {
            throw ValidationError("--set: expected key=value, got '\(o)'")
        }
        try checkOutputs([("--output", output), ("--routing-out", dump.routingOut)],
                         inputs: [("--config", config), ("--system", system)])
    }

    func run() throws {
        var options = EstimateOptions(configPath: config, overrides: overrides, ranks: ranks, system: system,
                                      output: output, routingOut: dump.routingOut, threads: threads)
        options.routingFormat = dump.format
        let estimate = options
        // One process, no MPI; no watchdog (the estimate passes no phase boundaries).
        let code = Launcher.run(.emulated(ranks: 1), timeout: 0) { transport in
            try Estimate.run(estimate, transport: transport)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
