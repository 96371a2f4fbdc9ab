import EpsimCore
import Yams

/// The figures `epsim compare` and `epsim sweep` put side by side for one layout, taken
/// from a finished run or read back from a result JSON file.
public struct LayoutSummary: Sendable {
    public var name: String
    /// Milliseconds per phase (every `Phase`, step included): the measured median, or,
    /// when `modeledOn` names a system, what the step waits for in it there
    /// (`ModeledRun.criticalMs`: per layer and chunk the slowest rank), the step being
    /// the critical path.
    public var medianMs: [Phase: Double]
    /// The system the times are modeled on (nil: measured on this host).
    public var modeledOn: String?
    /// Communication (dispatch + combine) share of step time.
    public var communicationShare: Double
    public var dropRate: Double
    public var rerouteRate: Double
    public var expertImbalance: Double
    public var rankImbalance: Double
    public var totalBytes: Int64
    public var offRankBytes: Int64
    /// [src][dst] bytes, dispatch + combine.
    public var traffic: [[Int64]]
    /// Measured times only (empty when modeled, or when a result file lacks
    /// `per_rank_mean_ms`): per phase (step included) the mean over ranks of each rank's
    /// mean over steps, ms; the phases add up to the step less the time outside them.
    public var meanMs: [Phase: Double] = [:]
    /// [P] rows each rank's experts computed (`routing.rank_load`); empty when a result
    /// file lacks it.
    public var rankLoad: [Double] = []

    public var stepMs: Double { medianMs[.step] ?? 0 }

    /// The figures of a finished run: its modeled times when it was modeled on a system
    /// (`RunResult.modeled`), else its measured ones.
    public init(name: String, result r: RunResult) {
        self.name = name
        if let m = r.modeled {
            modeledOn = m.system.name
            medianMs = LayoutSummary.modeledTimes(stepMs: m.stepMs) { m.criticalMs($0) }
            communicationShare = m.communicationShare
        } else {
            medianMs = Dictionary(uniqueKeysWithValues: Phase.allCases.map { ($0, r.phases[$0].median * 1e3) })
            meanMs = Dictionary(uniqueKeysWithValues: Phase.allCases.map { phase in
                let perRank = r.phases[phase].perRank
                return (phase, perRank.isEmpty ? 0 : perRank.reduce(0, +) / Double(perRank.count) * 1e3)
            })
            communicationShare = r.phases.communicationShare
        }
        rankLoad = r.metrics.rankLoad
        dropRate = r.dropRate
        rerouteRate = r.rerouteRate
        expertImbalance = r.total.expertImbalance
        rankImbalance = r.metrics.rankImbalance
        totalBytes = r.traffic.totalBytes
        offRankBytes = r.traffic.offRankBytes
        traffic = r.traffic.bytes
    }

    /// Every phase's modeled time (ms) as `time` gives it, the step being the critical path
    /// and `wait` zero.
    private static func modeledTimes(stepMs: Double, _ time: (ModeledPhase) throws -> Double) rethrows -> [Phase: Double] {
        var times: [Phase: Double] = [.step: stepMs, .wait: 0]
        for phase in Phase.allCases {
            if let m = phase.modeled { times[phase] = try time(m) }
        }
        return times
    }

    /// Reads a result file written by `epsim run --output` (schema epsim.result/1); with
    /// `modeledOn`, its times modeled on that system (`modeled.*`, written by
    /// `epsim run --system`). Throws `ConfigError` naming the file and the missing or
    /// malformed key.
    public init(resultFile path: String, name: String? = nil, modeledOn spec: SystemSpec? = nil) throws {
        let system = spec?.name
        guard let text = BoundedRead.textIfReadable(path) else {
            throw ConfigError(file: path, keyPath: "", "cannot read result file")
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw ConfigError(file: path, keyPath: "", "not a JSON document")
        }
        let doc = ResultDocument(root: root, file: path)
        let schema = try doc.string("schema")
        guard schema == RunResult.schema else {
            throw ConfigError(file: path, keyPath: "", "schema: expected \(RunResult.schema), got \(schema)")
        }
        self.name = name ?? path
        var medians: [Phase: Double] = [:]
        for phase in Phase.allCases {
            // Files from before `wait` existed have no such key: it was zero then.
            medians[phase] = phase == .wait ? (try? doc.number("phases.wait.median_ms", in: ResultDocument.milliseconds)) ?? 0
                : try doc.number("phases.\(phase).median_ms", in: ResultDocument.milliseconds)
        }
        medianMs = medians
        communicationShare = try doc.number("phases.communication_share", in: 0...1)
        if let system {
            let name = (try? doc.string("modeled.system.name")) ?? ""
            guard name == system else {
                throw ConfigError(file: path, keyPath: "", name.isEmpty
                    ? "has no times modeled on \(system): rerun it with `epsim run --system ... --output`"
                    : "modeled.system.name: modeled on \(name), not on \(system)")
            }
            // The same name with other numbers (another calibration of the same host).
            if let spec, let digest = try? doc.string("modeled.system.digest"), digest != spec.digest {
                throw ConfigError(file: path, keyPath: "", "modeled.system.digest: modeled on another file named \(system) "
                                  + "(\(digest), this one \(spec.digest)): rerun it with this --system")
            }
            let step = try doc.number("modeled.step_ms", in: ResultDocument.milliseconds)
            modeledOn = system
            medianMs = try LayoutSummary.modeledTimes(stepMs: step) {
                try doc.number("modeled.phases.\($0.rawValue).critical_ms", in: ResultDocument.milliseconds)
            }
            communicationShare = try doc.number("modeled.communication_share", in: 0...1)
        }
        dropRate = try doc.number("routing.drop_rate", in: 0...1)
        rerouteRate = try doc.number("routing.reroute_rate", in: 0...1)
        expertImbalance = try doc.number("routing.expert_imbalance", in: ResultDocument.ratio)
        rankImbalance = (try? doc.number("routing.rank_imbalance", in: ResultDocument.ratio)) ?? 0
        totalBytes = try doc.bytes("traffic.total_bytes")
        offRankBytes = try doc.bytes("traffic.off_rank_bytes")
        traffic = try doc.matrix("traffic.bytes")
        rankLoad = (try? doc.numbers("routing.rank_load", in: 0...ResultDocument.maxBytes)) ?? []
        if system == nil {
            var means: [Phase: Double] = [:]
            for phase in Phase.allCases {
                guard let v = try? doc.numbers("phases.\(phase).per_rank_mean_ms", in: ResultDocument.milliseconds),
                      !v.isEmpty else { break }
                means[phase] = v.reduce(0, +) / Double(v.count)
            }
            meanMs = means.count == Phase.allCases.count ? means : [:]
        }
    }

    /// Whether a path names a result file rather than a config (by its content's
    /// first key, so a config may end in .json too).
    public static func isResultFile(_ path: String) -> Bool {
        guard let text = BoundedRead.textIfReadable(path) else { return false }
        let head = text.prefix(200)
        return head.contains("\"schema\"") && head.contains(RunResult.schema)
    }

    public var json: JSONValue {
        .object([
            ("name", .string(name)),
            ("times", .string(modeledOn.map { "modeled on \($0)" } ?? "measured")),
            ("median_ms", .object(Phase.allCases.map { ($0.description, .double(medianMs[$0] ?? 0)) })),
            ("communication_share", .double(communicationShare)),
            ("drop_rate", .double(dropRate)),
            ("reroute_rate", .double(rerouteRate)),
            ("expert_imbalance", .double(expertImbalance)),
            ("rank_imbalance", .double(rankImbalance)),
            ("total_bytes", .int(Int(totalBytes))),
            ("off_rank_bytes", .int(Int(offRankBytes))),
            ("traffic_bytes", .array(traffic.map { .array($0.map { .int(Int($0)) }) })),
        ])
    }
}

/// Dotted-path access into a parsed result document, with errors naming the key.
private struct ResultDocument {
    let root: Any?
    let file: String

    func value(_ path: String) throws -> Any {
        var node: Any? = root
        for key in path.split(separator: ".") {
            guard let object = node as? [String: Any], let next = object[String(key)] else {
                throw ConfigError(file: file, keyPath: "", "\(path): missing from the result file")
            }
            node = next
        }
        guard let node else { throw ConfigError(file: file, keyPath: "", "\(path): missing from the result file") }
        return node
    }

    /// Median times a report can show: up to 1e12 ms (about 30 years).
    static let milliseconds: ClosedRange<Double> = 0...1e12
    /// Imbalance ratios (max over mean): at most the number of experts, far below 1e9.
    static let ratio: ClosedRange<Double> = 0...1e9
    /// Byte counts: up to 2^62, so sums of a few stay within Int64.
    static let maxBytes = Double(Int64(1) << 62)

    /// A number at `path` inside `range` (finite), else an error naming the key and value.
    func number(_ path: String, in range: ClosedRange<Double>) throws -> Double {
        let v = try value(path)
        let d: Double
        if let x = v as? Double { d = x } else if let i = v as? Int { d = Double(i) } else {
            throw ConfigError(file: file, keyPath: "", "\(path): expected a number, got \(v)")
        }
        guard d.isFinite, range.contains(d) else {
            throw ConfigError(file: file, keyPath: "", "\(path): expected a number in [\(range.lowerBound), \(range.upperBound)], got \(v)")
        }
        return d
    }

    /// A byte count at `path`: an integer in [0, 2^62].
    func bytes(_ path: String) throws -> Int64 {
        try ResultDocument.byteCount(try value(path), path: path, file: file)
    }

    static func byteCount(_ v: Any, path: String, file: String) throws -> Int64 {
        if let i = v as? Int, i >= 0, Double(i) <= maxBytes { return Int64(i) }
        if let d = v as? Double, d >= 0, d <= maxBytes, d == d.rounded() { return Int64(d) }
        throw ConfigError(file: file, keyPath: "", "\(path): expected a byte count in [0, 2^62], got \(v)")
    }

    /// An array of numbers at `path`, each inside `range`.
    func numbers(_ path: String, in range: ClosedRange<Double>) throws -> [Double] {
        guard let items = try value(path) as? [Any] else {
            throw ConfigError(file: file, keyPath: "", "\(path): expected an array of numbers")
        }
        return try items.map { v in
            let d: Double
            if let x = v as? Double { d = x } else if let i = v as? Int { d = Double(i) } else {
                throw ConfigError(file: file, keyPath: "", "\(path): expected a number, got \(v)")
            }
            guard d.isFinite, range.contains(d) else {
                throw ConfigError(file: file, keyPath: "", "\(path): expected numbers in [\(range.lowerBound), \(range.upperBound)], got \(v)")
            }
            return d
        }
    }

    func string(_ path: String) throws -> String {
        let v = try value(path)
        guard let s = v as? String else { throw ConfigError(file: file, keyPath: "", "\(path): expected a string, got \(v)") }
        return s
    }

    func matrix(_ path: String) throws -> [[Int64]] {
        guard let rows = try value(path) as? [Any] else {
            throw ConfigError(file: file, keyPath: "", "\(path): expected a matrix of byte counts")
        }
        return try rows.map { row in
            guard let cells = row as? [Any] else {
                throw ConfigError(file: file, keyPath: "", "\(path): expected a matrix of byte counts")
            }
            return try cells.map { cell in try ResultDocument.byteCount(cell, path: path, file: file) }
        }
    }
}

/// Side-by-side tables of several layouts.
public enum ComparisonTable {
    /// Column names for files: each file's last path component, or the whole path
    /// where two last components are the same.
    public static func columnNames(_ files: [String]) -> [String] {
        let base = files.map { path in String(path.split(separator: "/").last ?? Substring(path)) }
        return files.indices.map { i in base.filter { $0 == base[i] }.count > 1 ? files[i] : base[i] }
    }

    /// The phases a comparison shows (wait only when some layout has it).
    static func shownPhases(_ layouts: [LayoutSummary]) -> [Phase] {
        Phase.allCases.filter { $0 != .wait || layouts.contains { ($0.medianMs[.wait] ?? 0) > 0 } }
    }

    /// One column per layout: per-phase medians with the ratio to the first layout,
    /// then communication share, drop and reroute rates, imbalance and bytes.
    public static func text(_ layouts: [LayoutSummary]) -> String {
        guard let first = layouts.first else { return "nothing to compare" }
        let width = max(16, layouts.map { $0.name.count + 2 }.max() ?? 0)
        func row(_ label: String, _ cells: [String]) -> String {
            label.padding(18) + cells.map { $0.leftPadding(width) }.joined()
        }
        var lines = [row("", layouts.map(\.name))]
        lines.append(row(first.modeledOn == nil ? "median ms (× first)" : "modeled ms (× first)",
                         layouts.map { _ in "" }))
        for phase in shownPhases(layouts) {
            lines.append(row("  " + phase.description, layouts.map { l in
                let v = l.medianMs[phase] ?? 0, base = first.medianMs[phase] ?? 0
                return String(format3: v) + " (" + (base > 0 ? String(format2: v / base) + "×" : "-") + ")"
            }))
        }
        lines.append(row("communication", layouts.map { percent($0.communicationShare) }))
        lines.append(row("drop", layouts.map { percent($0.dropRate) }))
        lines.append(row("reroute", layouts.map { percent($0.rerouteRate) }))
        lines.append(row("imbalance expert", layouts.map { String(format2: $0.expertImbalance) }))
        lines.append(row("imbalance rank", layouts.map { String(format2: $0.rankImbalance) }))
        lines.append(row("bytes", layouts.map { byteText($0.totalBytes) }))
        lines.append(row("  between ranks", layouts.map { byteText($0.offRankBytes) }))
        if let system = first.modeledOn {
            lines.append("times modeled on \(system), each phase on its slowest rank (what the critical path waits for); "
                         + "step: the critical path across ranks; the same inputs give the same numbers")
        }
        return lines.joined(separator: "\n")
    }

    /// The comparison as JSON (schema epsim.compare/1), ratios relative to the first.
    public static func json(_ layouts: [LayoutSummary]) -> JSONValue {
        let first = layouts.first
        return .object([
            ("schema", .string("epsim.compare/1")),
            ("epsim_version", .string(EpsimVersion.string)),
            ("layouts", .array(layouts.map { l in
                var pairs: [(String, JSONValue)] = []
                if case let .object(p) = l.json { pairs = p }
                pairs.append(("ratio_to_first", .object(Phase.allCases.map { phase in
                    let base = first?.medianMs[phase] ?? 0
                    return (phase.description, base > 0 ? .double((l.medianMs[phase] ?? 0) / base) : .null)
                })))
                return .object(pairs)
            })),
        ])
    }

    /// The chart input for `ComparisonChart`.
    public static func chart(_ layouts: [LayoutSummary], title: String) -> ComparisonChart {
        ComparisonChart(summaries: layouts, title: title)
    }
}
