import EpsimCore

/// The files `epsim run` writes on rank 0: the result JSON, the per-(step, rank, phase)
/// CSV, the Chrome trace and the picture (`RunChart`). Each is opened (as a temporary file beside its path) before
/// the run, so a bad path fails at once on every rank, and renamed into place only once
/// complete.
public final class ResultFiles {
    private let output: AtomicFile.Writer?
    private let csv: AtomicFile.Writer?
    private let trace: AtomicFile.Writer?
    private let svg: AtomicFile.Writer?

    public init(_ options: RunOptions) throws {
        output = try options.output.map { try AtomicFile.Writer(path: $0) }
        csv = try options.csv.map { try AtomicFile.Writer(path: $0) }
        trace = try options.trace.map { try AtomicFile.Writer(path: $0) }
        svg = try options.svg.map { try AtomicFile.Writer(path: $0) }
    }

    public func write(_ result: RunResult) throws {
        try output?.commit(result.json().serialized() + "\n")
        try csv?.commit(ResultFiles.csv(result))
        try trace?.commit(ResultFiles.trace(result))
        try svg?.commit(RunChart(result).svg())
    }

    /// `step,rank,phase,milliseconds`: one row per counted step, rank and phase, in that
    /// order (phases as `Phase.allCases`), times summed over layers.
    public static func csv(_ result: RunResult) -> String {
        var text = "step,rank,phase,milliseconds\n"
        let phases = result.phases
        for step in 0..<phases.steps {
            for rank in 0..<phases.ranks {
                for phase in Phase.allCases {
                    text += "\(step),\(rank),\(phase),\(phases.sample(rank: rank, step: step, phase: phase) * 1e3)\n"
                }
            }
        }
        return text
    }

    /// Chrome trace-event JSON (the "JSON object format"): one process, one track
    /// (thread) per rank, one complete event ("ph": "X") per timed interval: the step,
    /// and each stage of each layer, named as Megatron-Core names it (`Stage`: "dispatch
    /// preprocess", "token dispatch", ...; the step and phases timed whole by their
    /// phase), with `args.phase` (the report's phase), `args.step`, `args.layer`,
    /// `args.chunk` (with `overlap.chunks` > 1) and, on token dispatch and token combine,
    /// `args.bytes_sent` and `args.bytes_received` (to and from other ranks). Times are
    /// in microseconds since each rank's start barrier. Opens in Perfetto and
    /// chrome://tracing.
    public static func trace(_ result: RunResult) -> String {
        var events: [JSONValue] = [
            .object([("name", .string("process_name")), ("ph", .string("M")), ("pid", .int(0)),
                     ("args", .object([("name", .string("epsim \(result.config.sourcePath ?? "")")) ]))]),
        ]
        for rank in 0..<result.environment.ranks {
            events.append(.object([
                ("name", .string("thread_name")), ("ph", .string("M")), ("pid", .int(0)), ("tid", .int(rank)),
                ("args", .object([("name", .string("rank \(rank)"))])),
            ]))
            events.append(.object([
                ("name", .string("thread_sort_index")), ("ph", .string("M")), ("pid", .int(0)), ("tid", .int(rank)),
                ("args", .object([("sort_index", .int(rank))])),
            ]))
        }
        let chunked = result.config.overlapChunks > 1
        for (rank, list) in result.events.enumerated() {
            for i in 0..<(list.count / PhaseTimer.eventFields) {
                guard let e = PhaseTimer.event(in: list, at: i) else { continue }
                var args: [(String, JSONValue)] = [("phase", .string(e.phase.description)), ("step", .int(e.step))]
                if e.layer >= 0 { args.append(("layer", .int(e.layer))) }
                if chunked, let chunk = e.chunk { args.append(("chunk", .int(chunk))) }
                if let bytes = e.bytes {
                    args.append(("bytes_sent", .int(bytes.sent)))
                    args.append(("bytes_received", .int(bytes.received)))
                }
                let phase = e.phase
                events.append(.object([
                    ("name", .string(e.stage?.description ?? phase.description)),
                    ("cat", .string(phase.isCommunication ? "communication" : phase == .step ? "step" : "compute")),
                    ("ph", .string("X")), ("pid", .int(0)), ("tid", .int(rank)),
                    ("ts", .double(e.start * 1e6)), ("dur", .double((e.end - e.start) * 1e6)),
                    ("args", .object(args)),
                ]))
            }
        }
        return JSONValue.object([
            ("traceEvents", .array(events)),
            ("displayTimeUnit", .string("ms")),
            ("otherData", .object([("schema", .string(RunResult.schema)), ("epsim_version", .string(EpsimVersion.string))])),
        ]).serialized(indent: 0) + "\n"
    }
}
