import ArgumentParser
import EpsimCore
import EpsimRuntime

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a layout and report routing, timing and traffic."
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: ArgumentHelp("Write the result (schema epsim.result/1) as JSON.",
                                            valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp(
        "Write every (step, layer, rank, token, slot) decision as JSON Lines (docs/semantics.md).",
        valueName: "file"))
    var routingOut: String?

    @Flag(name: .long, help: "Check the last counted step against the single-process reference (on rank 0).")
    var verify = false

    func run() throws {
        let options = RunOptions(configPath: common.config, overrides: common.overrides,
                                 output: output, routingOut: routingOut, verify: verify)
        let code = Launcher.run(common.transport) { transport in
            try Simulation.run(options, transport: transport)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
