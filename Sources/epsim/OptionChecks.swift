import ArgumentParser
import EpsimRuntime

// Checks of option combinations that several subcommands share, made in `validate()`
// so that a mistake is one line before anything runs.

/// Refuses two options writing one file, an output replacing an input, or an empty path
/// (`OutputPaths.checkDistinct`).
func checkOutputs(_ outputs: [(option: String, path: String?)], inputs: [(option: String, path: String)]) throws {
    do { try OutputPaths.checkDistinct(outputs, inputs: inputs) } catch { throw ValidationError("\(error)") }
}

/// The options every simulating subcommand shares: `--emulate` in 1...4096 and not
/// under an mpirun of several processes (`checkNotUnderMPI`), every `--set` a key=value.
func checkTransportOptions(emulate: Int?, overrides: [String]) throws {
    if let n = emulate, !(1...4096).contains(n) {
        throw ValidationError("--emulate: expected a number of ranks in 1...4096, got \(n)")
    }
    try checkNotUnderMPI(emulate)
    for o in overrides where !o.contains("=") {
        throw ValidationError("--set: expected key=value, got '\(o)'")
    }
}

/// `--emulate N` runs every rank as a thread of one process: under an mpirun of several
/// processes each would run its own world and write the same files.
func checkNotUnderMPI(_ emulate: Int?) throws {
    if let n = emulate, let size = Launcher.mpiWorldSize, size > 1 {
        throw ValidationError("--emulate \(n): runs the ranks as threads of one process, but mpirun started \(size) "
                              + "processes; use either --emulate \(n) without mpirun or mpirun without --emulate")
    }
}
