import ArgumentParser
import EpsimRuntime

/// Options every subcommand that reads a layout shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The layout to simulate (YAML).", valueName: "file"))
    var config: String

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a config key, e.g. --set capacity.factor=1.5 (repeatable).",
                               valueName: "key=value"))
    var overrides: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Run N ranks as threads of this process instead of one process per MPI rank.",
        valueName: "N"))
    var emulate: Int?

    func validate() throws {
        try checkTransportOptions(emulate: emulate, overrides: overrides)
    }

    var transport: TransportChoice {
        emulate.map { .emulated(ranks: $0) } ?? .mpi
    }
}
