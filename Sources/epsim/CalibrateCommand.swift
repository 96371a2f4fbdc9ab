import ArgumentParser
import EpsimCore
import EpsimRuntime

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure this host and write a system file for it.",
        discussion: """
            Measures, on the run's transport (mpirun -n P epsim calibrate, or --emulate P): the \
            all-to-allv latency per message size (OSU osu_alltoallv style, each call after the \
            caches are emptied and the send rows written, as a layer's dispatch meets them; then \
            again after --expert-ms of expert FFN, as its combine does), the expert FFN through the \
            project's BLAS, memcpy by size, and the permute and unpermute of a short run of the \
            layer. Writes the system file (YAML): each sweep's times, which the model interpolates, \
            and its fitted line (latency + bytes / bandwidth), whose bandwidth the model continues \
            from the largest size; the measured tables as comments.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The system file to write (YAML).", valueName: "file"))
    var output = "configs/systems/host.yaml"

    @Option(name: .long, help: ArgumentHelp(
        "Run N ranks as threads of this process instead of one process per MPI rank.", valueName: "N"))
    var emulate: Int?

    @Flag(name: .long, help: "Fewer sizes, rows and repeats (still real measurements), for tests.")
    var quick = false

    @Option(name: .long, help: ArgumentHelp(
        "The largest all-to-allv message, bytes per peer: both sweeps time the powers of two from 8 up to it "
            + "(every other one with --quick), the combine's also it when it is not one of them. Default 4194304; "
            + "1048576 with --quick.",
        valueName: "bytes"))
    var maxBytes: Int?

    @Option(name: .long, help: ArgumentHelp("Repeats of every measurement (default 5; 3 with --quick).",
                                            valueName: "n"))
    var repeats: Int?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Milliseconds of expert FFN before each call of the second sweep, which measures the link as a combine "
            + "meets it: about the expert phase of the layer to be modeled; 0.1 to 100, default 8 (the phase ends "
            + "with the expert call that passes it).",
        valueName: "ms"))
    var expertMs: Double?

    func validate() throws {
        try checkTransportOptions(emulate: emulate, overrides: [])
        if emulate == 1 {
            throw ValidationError("--emulate: calibrate measures the all-to-allv between ranks and needs at least 2, "
                                  + "got 1")
        }
        let bytes = Calibration.maxBytesRange
        if let m = maxBytes, !bytes.contains(m) {
            throw ValidationError("--max-bytes: expected bytes per peer in \(bytes.lowerBound)...\(bytes.upperBound), "
                                  + "got \(m)")
        }
        if let m = maxBytes, Calibration.Options(quick: quick, maxBytes: m).sizes.count < 2 {
            let least = quick ? "32 bytes per peer with --quick" : "16 bytes per peer"
            throw ValidationError("--max-bytes: expected at least \(least), two message sizes to fit a latency and a "
                                  + "bandwidth to, got \(m)")
        }
        let ms = Calibration.expertMillisRange
        if let e = expertMs, !(e.isFinite && ms.contains(e)) {
            throw ValidationError("--expert-ms: expected milliseconds in \(ms.lowerBound)...\(ms.upperBound), got \(e)")
        }
        let range = Calibration.repeatsRange
        if let r = repeats, !range.contains(r) {
            throw ValidationError("--repeats: expected \(range.lowerBound)...\(range.upperBound), got \(r)")
        }
        try checkOutputs([("--output", output)], inputs: [])
    }

    func run() throws {
        let options = Calibration.Options(quick: quick, maxBytes: maxBytes, repeats: repeats,
                                          expertSeconds: expertMs.map { $0 / 1e3 })
        let output = output
        // No watchdog: it watches the phases of steps, and calibrate runs none.
        let code = Launcher.run(emulate.map { .emulated(ranks: $0) } ?? .mpi, timeout: 0) { transport in
            let file = try Launcher.agree(transport) { () throws -> AtomicFile.Writer? in
                guard transport.rank == 0 else { return nil }
                do {
                    return try AtomicFile.Writer(path: output)
                } catch {
                    throw OutputError(description: "--output: \(error)")
                }
            }
            guard let result = try Calibration.run(transport, options: options) else { return }
            print(result.text)
            try file?.commit(result.yaml)
            print("wrote \(output)")
        }
        if code != 0 { throw ExitCode(code) }
    }
}

/// A system file that cannot be written, named by its option.
private struct OutputError: Error, CustomStringConvertible {
    let description: String
}
