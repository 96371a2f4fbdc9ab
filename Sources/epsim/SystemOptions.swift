import ArgumentParser

/// `--system`: model every phase on a target system (a file such as
/// configs/systems/h200-8x.yaml); `--modeled-only` reports only that.
struct SystemOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Also model every phase on this target system (YAML, e.g. configs/systems/h200-8x.yaml).",
        valueName: "file"))
    var system: String?

    @Flag(name: .long, help: ArgumentHelp(
        "Report only the modeled times (needs --system; not with --csv or --trace).",
        discussion: "The experts skip their arithmetic unless a later layer's routing reads it (real gating over "
            + "several layers), so the decisions, bytes and modeled times are those of the run without it."))
    var modeledOnly = false

    func validate() throws {
        if modeledOnly && system == nil {
            throw ValidationError("--modeled-only: needs --system FILE, the system to model the run on")
        }
    }

    /// The system file as an input no output may overwrite.
    var inputs: [(String, String)] { system.map { [("--system", $0)] } ?? [] }
}
