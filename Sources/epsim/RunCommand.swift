import ArgumentParser
import EpsimCore
import EpsimRuntime

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a layout and report routing, timing and traffic."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var watchdog: WatchdogOptions

    @Option(name: .long, help: ArgumentHelp("Write the result (schema epsim.result/1) as JSON.",
                                            valueName: "file"))
    var output: String?

    @OptionGroup var dump: RoutingDumpOptions

    @Flag(name: .long, help: "Run the router, capacity and overflow only (no dispatch, experts or combine); tokens default to a trace's rows.")
    var routingOnly = false

    @Option(name: .long, help: ArgumentHelp("Write one CSV row per (step, rank, phase).", valueName: "file"))
    var csv: String?

    @Option(name: .long, help: ArgumentHelp(
        "Write a Chrome trace-event JSON (one track per rank; opens in Perfetto).", valueName: "file"))
    var trace: String?

    @Option(name: .long, help: ArgumentHelp(
        "Draw expert demand against capacity, per-rank phase times and the traffic matrix as an SVG image.", valueName: "file"))
    var svg: String?

    @Flag(name: .long, help: "Check the last counted step against the single-process reference (on rank 0).")
    var verify = false

    @Flag(name: .long, help: "Put a barrier before each communication phase and report the time spent there as `wait`.")
    var sync = false

    @OptionGroup var target: SystemOptions

    func validate() throws {
        if routingOnly, let option = csv != nil ? "--csv" : trace != nil ? "--trace" : verify ? "--verify"
            : target.system != nil ? "--system" : nil {
            throw ValidationError("\(option): reports the dispatch, experts or combine, which --routing-only does not run")
        }
        try checkOutputs([("--output", output), ("--routing-out", dump.routingOut), ("--csv", csv), ("--trace", trace), ("--svg", svg)],
                         inputs: [("--config", common.config)] + target.inputs)
        if target.modeledOnly, let option = csv != nil ? "--csv" : trace != nil ? "--trace" : nil {
            throw ValidationError("\(option): holds this host's measured times, which --modeled-only does not report; "
                                  + "use one or the other (the modeled times are in --output's `modeled`)")
        }
    }

    func run() throws {
        var options = RunOptions(configPath: common.config, overrides: common.overrides,
                                 output: output, routingOut: dump.routingOut, csv: csv, trace: trace,
                                 verify: verify, sync: sync, system: target.system, modeledOnly: target.modeledOnly)
        options.routingFormat = dump.format
        options.routingOnly = routingOnly
        options.svg = svg
        let run = options
        let code = Launcher.run(common.transport, timeout: watchdog.timeout) { transport in
            try Simulation.run(run, transport: transport)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
