import ArgumentParser
import EpsimRuntime

/// `--routing-out` and `--routing-format`, shared by `run` and `estimate`.
struct RoutingDumpOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Write every (step, layer, rank, token, slot) decision (docs/results.md): a file, or a directory with --routing-format npy.",
        valueName: "path"))
    var routingOut: String?

    @Option(name: .long, help: ArgumentHelp(
        "Format of --routing-out: jsonl (JSON Lines), csv, or npy (a directory of one .npy array per column).",
        valueName: "format"))
    var routingFormat: String = "jsonl"

    func validate() throws {
        guard RoutingFormat(rawValue: routingFormat) != nil else {
            throw ValidationError("--routing-format: expected jsonl, csv or npy, got '\(routingFormat)'")
        }
        if routingFormat != "jsonl" && routingOut == nil {
            throw ValidationError("--routing-format \(routingFormat): needs --routing-out, which it is the format of")
        }
    }

    /// The format, checked by `validate`.
    var format: RoutingFormat { RoutingFormat(rawValue: routingFormat) ?? .jsonl }
}
