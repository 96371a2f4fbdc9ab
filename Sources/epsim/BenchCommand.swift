import ArgumentParser
import EpsimCore
import EpsimRuntime

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time each phase of a layout against bare baselines measured in the same run.",
        discussion: """
            Runs the layout's counted steps with --sync, then, on the same buffers and for the \
            last step's exact shapes: bare all-to-allv of the same byte matrices (dispatch + \
            combine), bare sgemm of the same shapes (expert), memcpy of the same bytes \
            (permute + unpermute) and the bare gate product (route); then more steps to show \
            that resident memory stays flat. Prints each ratio beside its target.
            """
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var watchdog: WatchdogOptions

    @Option(name: .long, help: ArgumentHelp("Timed iterations per baseline.", valueName: "n"))
    var iterations = 50

    @Option(name: .long, help: ArgumentHelp("Untimed iterations before them.", valueName: "n"))
    var warmup = 5

    @Option(name: .long, help: ArgumentHelp("Extra steps for the memory check (0 skips it).", valueName: "n"))
    var memorySteps = 1000

    @Option(name: .long, help: ArgumentHelp("Write the benchmark as JSON (schema epsim.bench/1).", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp(
        "Also model every phase on this system (e.g. the file `epsim calibrate` wrote) and print modeled beside measured.",
        valueName: "file"))
    var system: String?

    func validate() throws {
        if !(1...1_000_000).contains(iterations) {
            throw ValidationError("--iterations: expected 1...1000000, got \(iterations)")
        }
        if !(0...1_000_000).contains(warmup) { throw ValidationError("--warmup: expected 0...1000000, got \(warmup)") }
        if !(0...1_000_000).contains(memorySteps) {
            throw ValidationError("--memory-steps: expected 0...1000000, got \(memorySteps)")
        }
        try checkOutputs([("--output", output)],
                         inputs: [("--config", common.config)] + (system.map { [("--system", $0)] } ?? []))
    }

    func run() throws {
        let options = Bench.Options(iterations: iterations, warmup: warmup, memorySteps: memorySteps)
        let path = common.config, overrides = common.overrides, output = output, systemPath = system
        let code = Launcher.run(common.transport, timeout: watchdog.timeout) { transport in
            let config = try Simulation.loadConfig(path, overrides: overrides, transport: transport)
            let system = try systemPath.map { try Simulation.loadSystem($0, transport: transport) }
            let file = try Launcher.agree(transport) {
                transport.rank == 0 ? try output.map { try AtomicFile.Writer(path: $0) } : nil
            }
            guard let report = try Bench.run(config, transport: transport, options: options, system: system) else { return }
            print(report.text)
            try file?.commit(report.json.serialized() + "\n")
        }
        if code != 0 { throw ExitCode(code) }
    }
}
