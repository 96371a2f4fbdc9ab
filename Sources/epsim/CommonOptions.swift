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
        if let n = emulate, !(1...4096).contains(n) {
            throw ValidationError("--emulate: expected a number of ranks in 1...4096, got \(n)")
        }
        try checkNotUnderMPI(emulate)
        for o in overrides where !o.contains("=") {
            throw ValidationError("--set: expected key=value, got '\(o)'")
        }
    }

    var transport: TransportChoice {
        emulate.map { .emulated(ranks: $0) } ?? .mpi
    }
}
