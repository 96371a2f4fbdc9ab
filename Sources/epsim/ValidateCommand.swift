import ArgumentParser
import EpsimCore
import EpsimRuntime

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a config and print it resolved, with the placement table.",
        discussion: """
            The world size used for the checks is --emulate N, else the config's `ranks`, \
            else the size mpirun gave, else 1. Prints the estimated memory of the ranks one \
            process holds (all of them with --emulate, one under mpirun) and refuses a layout \
            that cannot fit. Nothing is run.
            """
    )

    @OptionGroup var common: CommonOptions

    @Flag(name: .long, help: "Resolve the config as `run --routing-only` would: placeholder hidden sizes, tokens from a trace's rows.")
    var routingOnly = false

    func run() throws {
        // Under mpirun every rank checks, but only rank 0 prints.
        let printer = (Launcher.launchedRank ?? 0) == 0
        let text: String
        do {
            text = try resolved()
        } catch {
            if printer { Launcher.printError("\(error)") }
            throw ExitCode.failure
        }
        if printer { print(text) }
    }

    /// The resolved config, the placement table and the memory estimate, or the first
    /// problem found.
    private func resolved() throws(ConfigError) -> String {
        var overrides = common.overrides
        if routingOnly {
            let given = try ConfigLoader.load(path: common.config, overrides: overrides)
            let size = common.emulate ?? given.ranks ?? Launcher.launchedSize ?? 1
            overrides += try RoutingOnlyConfig.overrides(path: common.config, overrides: overrides, worldSize: size)
        }
        let config = try ConfigLoader.load(path: common.config, overrides: overrides)
        let size = common.emulate ?? config.ranks ?? Launcher.launchedSize ?? 1
        // Under mpirun a process holds its own rank; emulated, every rank.
        let launched = common.emulate == nil ? Launcher.launchedRank.flatMap { $0 < size ? $0 : nil } : nil
        let ranks = launched.map { $0..<($0 + 1) } ?? 0..<size
        let estimate = try ConfigLoader.estimate(config, worldSize: size, processRanks: ranks)
        let layout = try ExpertLayout(config.placement, experts: config.model.experts, ranks: size)
        let note = CompatPreset.overrideNotice(config).map { "\nnote: " + $0 } ?? ""
        return ConfigLoader.resolvedYAML(config) + "\n" + PlacementTable.render(layout) + "\n" + estimate.summary + note
    }
}
