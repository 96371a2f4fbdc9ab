import ArgumentParser
import EpsimCore
import EpsimRuntime

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
struct Epsim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epsim",
        abstract: "Simulate expert-parallel Mixture-of-Experts layers on MPI or emulated ranks.",
        discussion: """
            Launch under MPI with one process per rank (mpirun -n 4 epsim run --config FILE, \
            or launch/run), or run N ranks inside one process with --emulate N.
            """,
        version: EpsimVersion.string,
        subcommands: [RunCommand.self, ValidateCommand.self, CompareCommand.self, SweepCommand.self, BenchCommand.self,
                      CalibrateCommand.self, ValidateModelCommand.self, EstimateCommand.self]
    )

    /// Parses and runs. Under mpirun an argument error (found before MPI starts, so the
    /// ranks cannot talk) is printed by rank 0, which exits with its code; the other
    /// ranks exit 0 at once. Were they to exit non-zero, mpirun could end the job, rank 0
    /// included, before rank 0's line is out; this way mpirun waits for rank 0 and
    /// reports its status.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            // 0 whatever the error (help and version are success, whose code is 0 too).
            if let rank = Launcher.launchedRank, rank != 0 { flushAndExit(0) }
            // Help and version go out as ArgumentParser prints them; a mistake on the
            // command line is one line, like every other error.
            let text = message(for: error)
            if code == .success { exit(withError: error) }
            if !(error is ExitCode) && !text.isEmpty { Launcher.printError(text + " (see 'epsim --help')") }
            flushAndExit(code.rawValue)
        }
    }
}

/// Ends a failed process: flushes standard output, then _exit(2) without the C
/// library's exit handlers. A run that failed for lack of memory can leave an OpenBLAS
/// thread retrying an allocation, and OpenBLAS's exit handler would wait for it for ever.
private func flushAndExit(_ code: Int32) -> Never {
    fflush(nil)  // every output stream
    #if canImport(Glibc)
    Glibc._exit(code)
    #else
    Darwin._exit(code)
    #endif
}
