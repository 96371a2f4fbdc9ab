import ArgumentParser

/// `--repeat`, shared by `compare` and `sweep`.
struct RepeatOptions: ParsableArguments {
    @Option(name: .customLong("repeat"), help: ArgumentHelp(
        "Run each layout N times (same seed: the same decisions, only the times vary) and report each measured time as the median with its range [min–max] (1...100).",
        valueName: "N"))
    var count = 1

    func validate() throws {
        guard (1...100).contains(count) else { throw ValidationError("--repeat: expected 1...100, got \(count)") }
    }
}
