import EpsimCore

/// How `--routing-out` writes the dump (`--routing-format`).
public enum RoutingFormat: String, Sendable, CaseIterable {
    /// JSON Lines: one object per (step, layer, rank, token, slot) in one file.
    case jsonl
    /// CSV: a header row, then one row per (step, layer, rank, token, slot) in one file.
    case csv
    /// A directory of 1-D .npy arrays, one per column, every array [N] with N the number
    /// of rows (steps × layers × Σ_r T_r × k), in the order of the other formats' rows.
    case npy
}

/// The routing dump (`--routing-out PATH`): one record per (step, layer, rank, token,
/// slot) of every counted step, written by rank 0 in that order (docs/results.md lists
/// the fields). `RoutingDump.columns` are the fields of every format.
///
/// Each rank formats its own records (text lines, or for `npy` its column arrays one
/// after another); one gather per (step, layer) brings them to rank 0, which appends them
/// to temporary files renamed into place when the run ends.
public final class RoutingDump: StepObserver {
    /// The fields of a record, in order; `float` columns are float32 in .npy files, the
    /// others int32 (`outcome`: 0 accepted, 1 rerouted, 2 dropped, as `Outcome`).
    public static let columns: [(name: String, float: Bool)] = [
        ("step", false), ("layer", false), ("rank", false), ("token", false), ("slot", false),
        ("chosen_expert", false), ("final_expert", false), ("outcome", false),
        ("weight_before", true), ("weight_after", true), ("buffer_position", false),
        ("reroute_round", false), ("dest_rank", false),
    ]
    /// `outcome`'s column: int32 in .npy files, its name in the text formats.
    static let outcomeColumn = 7

    public let format: RoutingFormat
    /// Rank 0: one writer (jsonl, csv) or one per column (npy, in `columns` order).
    private let writers: [AtomicFile.Writer]
    /// Rows the npy arrays were declared with, and rows written so far (rank 0).
    private let declaredRows: Int
    private var writtenRows = 0
    private var buffer: [UInt8] = []

    /// Opens the destination on rank 0 (collectively checked by the caller, so a bad
    /// path fails before the run starts). `rows` is the number of records the run will
    /// write (steps × layers × Σ_r T_r × k), which the .npy headers state up front; the
    /// text formats ignore it. For `npy`, `path` is a directory, created if missing, and
    /// receives `<column>.npy` for every column.
    ///
    /// - Throws: `AtomicFile.WriteError` for a path that cannot be written (npy: a path
    ///   that exists and is not a directory, or a directory that cannot be created).
    public init(path: String, format: RoutingFormat = .jsonl, rows: Int = 0, rank: Int) throws {
        self.format = format
        declaredRows = rows
        guard rank == 0 else {
            writers = []
            return
        }
        switch format {
        case .jsonl:
            writers = [try AtomicFile.Writer(path: path)]
        case .csv:
            let w = try AtomicFile.Writer(path: path)
            try w.append(RoutingDump.columns.map(\.name).joined(separator: ",") + "\n")
            writers = [w]
        case .npy:
            try OutputDirectory.create(path)
            writers = try RoutingDump.columns.map { column in
                let w = try AtomicFile.Writer(path: path + "/" + column.name + ".npy")
                try NpyWriter.header(descr: column.float ? "<f4" : "<i4", shape: [rows]).withUnsafeBytes { try w.append($0) }
                return w
            }
        }
    }

    /// Formats this rank's decisions of one layer-step and sends them to rank 0.
    /// Collective: every rank calls it for every counted (step, layer).
    ///
    /// - Parameters:
    ///   - chosen: [T × k] the router's chosen experts (`RouterOutput.chosen`).
    ///   - weights: [T × k] the slot weights before capacity (`RouterOutput.weights`).
    ///   - decisions: the decisions of that layer-step on this rank.
    public func record(step: Int, layer: Int, rank: Int, chosen: UnsafeBufferPointer<Int32>,
                       weights: UnsafeBufferPointer<Float>, decisions d: RoutingDecisions,
                       transport: any Transport) throws {
        encode(step: step, layer: layer, rank: rank, chosen: chosen, weights: weights, decisions: d, into: &buffer)
        try write(try transport.gatherBytes(buffer, root: 0))
    }

    /// One rank's records of a (step, layer) in this dump's format, into `bytes`
    /// (replacing what it held): what `record` sends to rank 0. Arguments as `record`'s.
    public func encode(step: Int, layer: Int, rank: Int, chosen: UnsafeBufferPointer<Int32>,
                       weights: UnsafeBufferPointer<Float>, decisions d: RoutingDecisions, into bytes: inout [UInt8]) {
        precondition(chosen.count >= d.assignments && weights.count >= d.assignments)
        bytes.removeAll(keepingCapacity: true)
        let records = Records(step: Int32(step), layer: Int32(layer), rank: Int32(rank), chosen: chosen,
                              weights: weights, d: d)
        switch format {
        case .jsonl: RoutingDump.appendText(records, json: true, to: &bytes)
        case .csv: RoutingDump.appendText(records, json: false, to: &bytes)
        case .npy: RoutingDump.appendColumns(records, to: &bytes)
        }
    }

    /// Appends every rank's `encode`d records of one (step, layer), in rank order, to
    /// the destination (rank 0; a no-op where nothing was opened).
    public func write(_ pieces: [[UInt8]]) throws {
        guard !writers.isEmpty else { return }
        if format != .npy {
            for piece in pieces { try piece.withUnsafeBytes { try writers[0].append($0) } }
            return
        }
        let width = 4 * RoutingDump.columns.count
        for piece in pieces {
            let n = piece.count / width
            precondition(n * width == piece.count, "a rank's dump columns are not whole")
            writtenRows += n
            precondition(writtenRows <= declaredRows, "routing dump: more rows than the \(declaredRows) declared")
            try piece.withUnsafeBytes { raw in
                for (c, w) in writers.enumerated() {
                    try w.append(UnsafeRawBufferPointer(rebasing: raw[(c * 4 * n)..<((c + 1) * 4 * n)]))
                }
            }
        }
    }

    /// Records every layer of counted step `step` (collective).
    public func stepFinished(_ step: Int, rank moe: MoERank, transport: any Transport) throws {
        for layer in 0..<moe.config.model.layers {
            let out = moe.routed[layer]
            try out.chosen.withUnsafeBufferPointer { chosen in
                try out.weights.withUnsafeBufferPointer { weights in
                    try record(step: step, layer: layer, rank: transport.rank, chosen: chosen, weights: weights,
                               decisions: moe.decisions[layer], transport: transport)
                }
            }
        }
    }

    /// The records of one rank's (step, layer), as the columns see them: column `c` (in
    /// `columns` order) of assignment a, as an int32 or, for the float columns, a float.
    /// The one place the fields' order and meaning are written; every format reads it.
    private struct Records {
        let step: Int32, layer: Int32, rank: Int32
        let chosen: UnsafeBufferPointer<Int32>
        let weights: UnsafeBufferPointer<Float>
        let d: RoutingDecisions

        var count: Int { d.assignments }

        @inline(__always)
        func int(_ c: Int, _ a: Int) -> Int32 {
            let k = d.topK
            switch c {
            case 0: return step
            case 1: return layer
            case 2: return rank
            case 3: return Int32(a / k)
            case 4: return Int32(a % k)
            case 5: return chosen[a]
            case 6: return d.finalExpert[a]
            case 7: return Int32(d.outcome[a].rawValue)
            case 10: return d.bufferPosition[a]
            case 11: return d.rerouteRound[a]
            case 12: return d.destRank[a]
            default: preconditionFailure("column \(c) is not an int32 column")
            }
        }

        @inline(__always)
        func float(_ c: Int, _ a: Int) -> Float {
            switch c {
            case 8: return weights[a]
            case 9: return d.weight[a]
            default: preconditionFailure("column \(c) is not a float column")
            }
        }
    }

    /// One text line per record: JSON Lines (`{"step":0,...}`, `outcome` by name in
    /// quotes, non-finite floats `null`) or CSV (`outcome` by name, non-finite floats
    /// `nan`/`inf`/`-inf`).
    private static func appendText(_ r: Records, json: Bool, to buffer: inout [UInt8]) {
        let columns = RoutingDump.columns
        let outcomes = json ? RoutingDump.jsonOutcomes : RoutingDump.csvOutcomes
        for a in 0..<r.count {
            if json { buffer.append(UInt8(ascii: "{")) }
            for c in columns.indices {
                if c > 0 { buffer.append(UInt8(ascii: ",")) }
                if json { buffer.append(contentsOf: RoutingDump.jsonKeys[c]) }
                if columns[c].float {
                    let v = r.float(c, a)
                    buffer.append(contentsOf: (json ? RoutingDump.number(v) : RoutingDump.csvNumber(v)).utf8)
                } else if c == RoutingDump.outcomeColumn {
                    buffer.append(contentsOf: outcomes[Int(r.d.outcome[a].rawValue)])
                } else {
                    buffer.append(contentsOf: String(r.int(c, a)).utf8)
                }
            }
            if json { buffer.append(UInt8(ascii: "}")) }
            buffer.append(UInt8(ascii: "\n"))
        }
    }

    /// Each column's `"name":` in JSON Lines, and each outcome's text by raw value (quoted
    /// in JSON), made once rather than per record.
    private static let jsonKeys: [[UInt8]] = columns.map { Array("\"\($0.name)\":".utf8) }
    private static let jsonOutcomes: [[UInt8]] = Outcome.allCases.map { Array("\"\($0)\"".utf8) }
    private static let csvOutcomes: [[UInt8]] = Outcome.allCases.map { Array("\($0)".utf8) }

    /// The rank's records as `columns.count` arrays of n little-endian 4-byte values.
    private static func appendColumns(_ r: Records, to buffer: inout [UInt8]) {
        let n = r.count
        buffer.reserveCapacity(buffer.count + 4 * n * RoutingDump.columns.count)
        for (c, column) in RoutingDump.columns.enumerated() {
            for a in 0..<n {
                let bits = column.float ? r.float(c, a).bitPattern : UInt32(bitPattern: r.int(c, a))
                withUnsafeBytes(of: bits.littleEndian) { buffer.append(contentsOf: $0) }
            }
        }
    }

    /// A JSON number: Swift's shortest round-trip text for a finite float (e.g. `0.61`,
    /// `1e-05`), `null` for NaN or infinity, which JSON cannot write. (The router rejects
    /// non-finite logits, so weights are finite; the dump stays valid JSON regardless.)
    static func number(_ v: Float) -> String {
        v.isFinite ? "\(v)" : "null"
    }

    /// A CSV number: as `number`, with non-finite values as `nan`, `inf`, `-inf` (what
    /// NumPy and pandas read back).
    static func csvNumber(_ v: Float) -> String {
        v.isFinite ? "\(v)" : v.isNaN ? "nan" : v > 0 ? "inf" : "-inf"
    }

    /// Renames the finished dump into place (rank 0; a no-op elsewhere).
    ///
    /// - Throws: `AtomicFile.WriteError` if a file cannot be renamed into place.
    public func commit() throws {
        if format == .npy && !writers.isEmpty {
            precondition(writtenRows == declaredRows,
                         "routing dump: \(writtenRows) rows written, \(declaredRows) declared in the .npy headers")
        }
        for w in writers { try w.commit() }
    }

    /// About how many bytes one record takes in `format` (for memory estimates): 13
    /// four-byte columns in npy; a record's text with its field names in jsonl.
    public static func bytesPerRecord(_ format: RoutingFormat) -> Double {
        switch format {
        case .npy: return Double(4 * columns.count)
        case .csv: return 80
        case .jsonl: return 230
        }
    }

    /// The records a run of `config` on `ranks` ranks writes: steps × layers × Σ_r T_r × k.
    public static func rows(_ config: SimConfig, ranks: Int) -> Int {
        let tokens = config.worldTokens(size: ranks)
        return config.steps * config.model.layers * tokens * config.model.topK
    }
}
