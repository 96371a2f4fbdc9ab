import ArgumentParser
import EpsimRuntime

/// `--timeout`, shared by every subcommand that runs layouts.
struct WatchdogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Stop the run, on every rank, when no phase has finished for this many seconds (0: never).",
        valueName: "seconds"))
    var timeout: Double = Watchdog.defaultTimeout

    func validate() throws {
        guard timeout.isFinite, Watchdog.timeoutRange.contains(timeout) else {
            throw ValidationError("--timeout: expected seconds in 0...\(Int(Watchdog.timeoutRange.upperBound)), got \(timeout)")
        }
    }
}
