import Foundation
import EpsimCore
import Yams

/// A measured figure over repeated runs of the same layout (`--repeat N`: same seed, so
/// the same decisions; only the times vary): each run's value, their median and range
/// (min–max). One run gives a range of one point.
public struct Spread: Sendable, Equatable {
    /// One value per run, in run order.
    public var values: [Double]

    public init(_ values: [Double]) { self.values = values }

    public var median: Double { EpsimRuntime.median(values) }
    public var min: Double { values.min() ?? 0 }
    public var max: Double { values.max() ?? 0 }
    /// Whether the runs give a range (two or more).
    public var isRange: Bool { values.count > 1 }

    /// Whether the two ranges share a value: their difference is inside the noise.
    public func overlaps(_ other: Spread) -> Bool { min <= other.max && other.min <= max }

    /// The ratio of medians to `base`'s and its range, `min/base.max … max/base.min` (the
    /// most the ratio of any two runs can be apart); nil when `base`'s median is not positive.
    public func ratio(to base: Spread) -> (ratio: Double, min: Double, max: Double)? {
        guard base.median > 0 else { return nil }
        return (median / base.median, base.max > 0 ? min / base.max : 0, base.min > 0 ? max / base.min : .infinity)
    }

    /// "12.345" for one run, "12.345 [11.900–13.100]" (median [min–max]) for several.
    var text: String {
        String(format3: median) + (isRange ? " [\(String(format3: min))–\(String(format3: max))]" : "")
    }

    var json: JSONValue {
        .object([("median", .double(median)), ("min", .double(min)), ("max", .double(max)),
                 ("per_repeat", .array(values.map { .double($0) }))])
    }
}

/// The figures `epsim compare` and `epsim sweep` put side by side for one layout, taken
/// from finished runs (one per `--repeat`) or read back from a result JSON file.
public struct LayoutSummary: Sendable {
    public var name: String
    /// Milliseconds per phase (every `Phase`, step included): the measured median
    /// (median over the repeats of each run's median over ranks and steps), or, when
    /// `modeledOn` names a system, what the step waits for in it there
    /// (`ModeledRun.criticalMs`: per layer and chunk the slowest rank), the step being
    /// the critical path.
    public var medianMs: [Phase: Double]
    /// The system the times are modeled on (nil: measured on this host).
    public var modeledOn: String?
    /// Communication (dispatch + combine) share of step time (modeled when `modeledOn`).
    public var communicationShare: Double
    public var dropRate: Double
    public var rerouteRate: Double
    /// Share of the routing weight of all assignments that dropped assignments carried
    /// (`routing.dropped_weight_share`).
    public var weightLostRate: Double = 0
    public var expertImbalance: Double
    public var rankImbalance: Double
    public var totalBytes: Int64
    public var offRankBytes: Int64
    /// Bytes between ranks on one node and between nodes, on the target system
    /// (`ModeledRun.intraNodeBytes`, `interNodeBytes`); nil without one.
    public var intraNodeBytes: Int64?
    public var interNodeBytes: Int64?
    /// [src][dst] bytes, dispatch + combine.
    public var traffic: [[Int64]]
    /// Measured times only (empty when modeled, or when a result file lacks
    /// `per_rank_mean_ms`): per phase (step included) the mean over ranks (and runs, with
    /// `--repeat`) of each rank's mean over steps, ms; the phases add up to the step less
    /// the time outside them.
    public var meanMs: [Phase: Double] = [:]
    /// [P] rows each rank's experts computed (`routing.rank_load`); empty when a result
    /// file lacks it.
    public var rankLoad: [Double] = []

    /// Runs the figures come from (`--repeat`; 1 for a result file).
    public var repeats = 1
    /// Per phase, each run's measured median over ranks and steps, milliseconds (also
    /// with `modeledOn`: the host's times follow the modeled ones).
    public var measuredMs: [Phase: Spread] = [:]
    /// Each run's measured communication share.
    public var measuredCommunicationShare = Spread([])
    /// Per phase, the rank with the highest mean time (over steps, then runs), and that
    /// rank's mean in each run, milliseconds; rank -1 where a result file does not say.
    public var slowestRank: [Phase: Int] = [:]
    public var slowestMs: [Phase: Spread] = [:]
    /// With `modeledOn`, per modeled phase the slowest rank there and its time
    /// (`ModeledRun.slowestRank`, `maxMs`), milliseconds.
    public var modeledSlowestRank: [Phase: Int] = [:]
    public var modeledSlowestMs: [Phase: Double] = [:]
    /// With `compute: modeled`, the device's expert time per step on the slowest rank
    /// (`RunResult.modeledDeviceMs`), milliseconds; nil with real compute.
    public var modeledDeviceMs: Double?
    /// Whether the layout's host times were measured (false for an `epsim estimate`
    /// result, which times nothing: its measured block is left out).
    public var measured = true
    /// With `--verify`: the largest relative error against the reference, and whether
    /// it passed; nil without.
    public var verifyMaxRelError: Double?
    public var verifyPassed: Bool?

    public var stepMs: Double { medianMs[.step] ?? 0 }

    /// The step time a sweep ranks points by and its spread over runs: the modeled step
    /// (one value: the model reads no clock) with `modeledOn`, else the measured one.
    public var stepSpread: Spread {
        modeledOn != nil ? Spread([stepMs]) : (measuredMs[.step] ?? Spread([stepMs]))
    }

    /// The figures of a finished run: its modeled times when it was modeled on a system
    /// (`RunResult.modeled`), else its measured ones.
    public init(name: String, result r: RunResult) {
        self.init(name: name, results: [r])
    }

    /// The figures of runs of one layout (`--repeat`, at least one; the same seed, so
    /// the decisions, bytes and modeled times are the first run's): measured times as
    /// the median over runs, with their spread.
    public init(name: String, results: [RunResult]) {
        precondition(!results.isEmpty, "LayoutSummary needs at least one run")
        let r = results[0]
        self.name = name
        repeats = results.count
        for phase in Phase.allCases {
            measuredMs[phase] = Spread(results.map { $0.phases[phase].median * 1e3 })
            let ranks = r.phases[phase].perRank.count
            let mean = (0..<ranks).map { rank in results.reduce(0.0) { $0 + $1.phases[phase].perRank[rank] } }
            let slowest = mean.indices.max { mean[$0] < mean[$1] } ?? 0
            slowestRank[phase] = ranks > 0 ? slowest : -1
            slowestMs[phase] = Spread(ranks > 0 ? results.map { $0.phases[phase].perRank[slowest] * 1e3 } : [0])
        }
        measuredCommunicationShare = Spread(results.map { $0.phases.communicationShare })
        if let m = r.modeled {
            modeledOn = m.system.name
            medianMs = LayoutSummary.modeledTimes(stepMs: m.stepMs) { m.criticalMs($0) }
            communicationShare = m.communicationShare
            for phase in Phase.allCases {
                guard let p = phase.modeled else { continue }
                modeledSlowestRank[phase] = m.slowestRank(p)
                modeledSlowestMs[phase] = m.maxMs(p)
            }
            intraNodeBytes = m.intraNodeBytes
            interNodeBytes = m.interNodeBytes
        } else {
            medianMs = measuredMs.mapValues(\.median)
            communicationShare = measuredCommunicationShare.median
            // Over every run and rank: means add up as medians do not.
            meanMs = Dictionary(uniqueKeysWithValues: Phase.allCases.map { phase in
                let perRank = results.flatMap { $0.phases[phase].perRank }
                return (phase, perRank.isEmpty ? 0 : perRank.reduce(0, +) / Double(perRank.count) * 1e3)
            })
        }
        rankLoad = r.metrics.rankLoad
        dropRate = r.dropRate
        rerouteRate = r.rerouteRate
        weightLostRate = r.total.droppedWeightShare
        expertImbalance = r.total.expertImbalance
        rankImbalance = r.metrics.rankImbalance
        totalBytes = r.traffic.totalBytes
        offRankBytes = r.traffic.offRankBytes
        traffic = r.traffic.bytes
        modeledDeviceMs = r.modeledDeviceMs
        measured = r.environment.transport != "estimate"
        if let v = r.verification {
            verifyMaxRelError = results.compactMap { $0.verification?.maxRelError }.max() ?? v.maxRelError
            verifyPassed = results.allSatisfy { $0.verification?.passed ?? true }
        }
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
        measuredMs = medians.mapValues { Spread([$0]) }
        measuredCommunicationShare = Spread([communicationShare])
        for phase in Phase.allCases {
            // Optional: files from before these keys existed lack them.
            slowestRank[phase] = (try? doc.number("phases.\(phase).slowest_rank", in: 0...1e9)).map { Int($0) } ?? -1
            slowestMs[phase] = Spread([(try? doc.number("phases.\(phase).slowest_rank_mean_ms", in: ResultDocument.milliseconds)) ?? 0])
        }
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
            for phase in Phase.allCases {
                guard let p = phase.modeled else { continue }
                if let rank = try? doc.number("modeled.phases.\(p.rawValue).slowest_rank", in: 0...1e9),
                   let time = try? doc.number("modeled.phases.\(p.rawValue).max_ms", in: ResultDocument.milliseconds) {
                    modeledSlowestRank[phase] = Int(rank)
                    modeledSlowestMs[phase] = time
                }
            }
            intraNodeBytes = try? doc.bytes("modeled.traffic.intra_node_bytes")
            interNodeBytes = try? doc.bytes("modeled.traffic.inter_node_bytes")
        }
        dropRate = try doc.number("routing.drop_rate", in: 0...1)
        rerouteRate = try doc.number("routing.reroute_rate", in: 0...1)
        expertImbalance = try doc.number("routing.expert_imbalance", in: ResultDocument.ratio)
        rankImbalance = (try? doc.number("routing.rank_imbalance", in: ResultDocument.ratio)) ?? 0
        weightLostRate = (try? doc.number("routing.dropped_weight_share", in: 0...1)) ?? 0
        modeledDeviceMs = try? doc.number("compute.modeled_device_ms", in: ResultDocument.milliseconds)
        if (try? doc.value("verification.ran")) as? Bool == true {
            verifyMaxRelError = try? doc.number("verification.max_rel_error", in: 0...Double.greatestFiniteMagnitude)
            verifyPassed = (try? doc.value("verification.passed")) as? Bool
        }
        totalBytes = try doc.bytes("traffic.total_bytes")
        offRankBytes = try doc.bytes("traffic.off_rank_bytes")
        // An estimate above `Estimate.matrixRanks` writes no matrix (null): no heatmap.
        traffic = (try? doc.value("traffic.bytes")) is NSNull ? [] : try doc.matrix("traffic.bytes")
        measured = (try? doc.value("environment.transport")) as? String != "estimate"
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

    private var slowestJSON: JSONValue {
        .object(Phase.allCases.map { phase -> (String, JSONValue) in
            let figures: [(String, JSONValue)] = [("rank", .int(slowestRank[phase] ?? -1)),
                                                  ("ms", (slowestMs[phase] ?? Spread([])).json)]
            return (phase.description, .object(figures))
        })
    }

    private var modeledSlowestJSON: JSONValue {
        guard modeledOn != nil else { return .null }
        return .object(Phase.allCases.compactMap { phase -> (String, JSONValue)? in
            guard let rank = modeledSlowestRank[phase] else { return nil }
            let figures: [(String, JSONValue)] = [("rank", .int(rank)), ("max_ms", .double(modeledSlowestMs[phase] ?? 0))]
            return (phase.description, .object(figures))
        })
    }

    private var verificationJSON: JSONValue {
        guard let e = verifyMaxRelError else { return .null }
        let passed: JSONValue = verifyPassed.map { .bool($0) } ?? .null
        return .object([("max_rel_error", .double(e)), ("passed", passed)])
    }

    private func optionalBytes(_ v: Int64?) -> JSONValue { v.map { .int(Int($0)) } ?? .null }

    public var json: JSONValue {
        let measured: [(String, JSONValue)] = Phase.allCases.map { ($0.description, (measuredMs[$0] ?? Spread([])).json) }
        let device: JSONValue = modeledDeviceMs.map { .double($0) } ?? .null
        let base: [(String, JSONValue)] = [
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
        ]
        let added: [(String, JSONValue)] = [
            ("repeats", .int(repeats)),
            ("measured_ms", .object(measured)),
            ("measured_communication_share", measuredCommunicationShare.json),
            ("slowest_rank", slowestJSON),
            ("modeled_slowest_rank", modeledSlowestJSON),
            ("dropped_weight_share", .double(weightLostRate)),
            ("intra_node_bytes", optionalBytes(intraNodeBytes)),
            ("inter_node_bytes", optionalBytes(interNodeBytes)),
            ("modeled_device_ms", device),
            ("verification", verificationJSON),
        ]
        return .object(base + added)
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
        try number(try value(path), path: path, in: range, what: "a number")
    }

    /// `v` as a finite number inside `range`; the error names `path` and says it expected
    /// `what` in the range ("a number", or "numbers" for an array's items).
    private func number(_ v: Any, path: String, in range: ClosedRange<Double>, what: String) throws -> Double {
        let d: Double
        if let x = v as? Double { d = x } else if let i = v as? Int { d = Double(i) } else {
            throw ConfigError(file: file, keyPath: "", "\(path): expected a number, got \(v)")
        }
        guard d.isFinite, range.contains(d) else {
            throw ConfigError(file: file, keyPath: "", "\(path): expected \(what) in [\(range.lowerBound), \(range.upperBound)], got \(v)")
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
        return try items.map { try number($0, path: path, in: range, what: "numbers") }
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

    /// "1.04×", with several runs its range "1.04× [0.95–1.12]", and "~" when the two
    /// layouts' ranges overlap (the difference is inside the noise).
    static func ratioText(_ value: Spread, base: Spread) -> String {
        guard let r = value.ratio(to: base) else { return "-" }
        guard value.isRange || base.isRange else { return String(format2: r.ratio) + "×" }
        return String(format2: r.ratio) + "× [" + String(format2: r.min) + "–" + String(format2: r.max) + "]"
            + (value.overlaps(base) ? " ~" : "")
    }

    /// One column per layout. With `--system` the modeled times lead (deterministic: the
    /// same inputs give the same lines), then the figures of the decisions and bytes,
    /// then the host's measured times; without, the measured times come first. Measured
    /// times are medians over the runs, with their range [min–max] when there were
    /// several, and each ratio to the first layout with its range, `~` marking a ratio
    /// whose ranges overlap. Each phase's slowest rank follows its times.
    public static func text(_ layouts: [LayoutSummary]) -> String {
        guard let first = layouts.first else { return "nothing to compare" }
        var rows: [(String, [String])] = []
        func row(_ label: String, _ cells: [String]) { rows.append((label, cells)) }
        let phases = shownPhases(layouts)
        let repeats = layouts.map(\.repeats).max() ?? 1
        let modeled = first.modeledOn != nil

        var modeledBlock: [(String, [String])] = []
        if let system = first.modeledOn {
            row("modeled ms (× first) on \(system)", layouts.map { _ in "" })
            for phase in phases where phase != .wait {
                row("  " + phase.description, layouts.map { l in
                    let v = l.medianMs[phase] ?? 0, base = first.medianMs[phase] ?? 0
                    return String(format3: v) + " (" + (base > 0 ? String(format2: v / base) + "×" : "-") + ")"
                })
            }
            row("modeled slowest rank: ms", layouts.map { _ in "" })
            for phase in phases where phase.modeled != nil {
                row("  " + phase.description, layouts.map { l in
                    l.modeledSlowestRank[phase].map { "r\($0) " + String(format3: l.modeledSlowestMs[phase] ?? 0) } ?? "-"
                })
            }
            row("communication", layouts.map { percent($0.communicationShare) })
            modeledBlock = rows
            rows = []
        }

        row((repeats > 1 ? "median ms [min–max of \(repeats) runs]" : "median ms") + " (× first)"
            + (modeled ? ", measured" : ""), layouts.map { _ in "" })
        for phase in phases {
            row("  " + phase.description, layouts.indices.map { i in
                // An estimate timed nothing on this host: no figure, no ratio (not 0 ms).
                guard layouts[i].measured else { return "-" }
                let v = layouts[i].measuredMs[phase] ?? Spread([0]), base = first.measuredMs[phase] ?? Spread([0])
                let ratio = first.measured ? (i == 0 ? (base.median > 0 ? "1.00×" : "-") : ratioText(v, base: base)) : "-"
                return v.text + " (" + ratio + ")"
            })
        }
        row("slowest rank: mean ms" + (modeled ? ", measured" : ""), layouts.map { _ in "" })
        for phase in phases {
            row("  " + phase.description, layouts.map { l in
                let rank = l.slowestRank[phase] ?? -1
                return rank < 0 || !l.measured ? "-" : "r\(rank) " + (l.slowestMs[phase] ?? Spread([0])).text
            })
        }
        row("communication" + (modeled ? ", measured" : ""), layouts.map { l in
            guard l.measured else { return "-" }
            let s = l.measuredCommunicationShare
            return percent(s.median) + (s.isRange ? " [" + percent(s.min) + "–" + percent(s.max) + "]" : "")
        })
        let measuredBlock = rows
        rows = []

        row("drop", layouts.map { percent($0.dropRate) })
        row("reroute", layouts.map { percent($0.rerouteRate) })
        row("weight lost", layouts.map { percent($0.weightLostRate) })
        row("imbalance expert/rank", layouts.map { String(format2: $0.expertImbalance) + " / " + String(format2: $0.rankImbalance) })
        row("bytes", layouts.map { byteText($0.totalBytes) })
        row("  between ranks", layouts.map { byteText($0.offRankBytes) })
        if modeled {
            row("  intra-node", layouts.map { $0.intraNodeBytes.map(byteText) ?? "-" })
            row("  inter-node", layouts.map { $0.interNodeBytes.map(byteText) ?? "-" })
        }
        if modeledDeviceMsShown(layouts, modeled: modeled) {
            row("expert device ms", layouts.map { $0.modeledDeviceMs.map { String(format3: $0) } ?? "-" })
        }
        let decidedBlock = rows
        rows = []
        if layouts.contains(where: { $0.verifyMaxRelError != nil }) {
            row("verify max rel error", layouts.map { l in
                l.verifyMaxRelError.map { "\($0)" + (l.verifyPassed == false ? " FAIL" : " PASS") } ?? "-"
            })
        }
        // Estimates time nothing on this host: no measured block when none was measured.
        let shownMeasured = layouts.contains(where: \.measured) ? measuredBlock : []
        let all = [("", layouts.map(\.name))] + (modeled ? modeledBlock + decidedBlock + shownMeasured
                                                          : shownMeasured + decidedBlock) + rows
        // Section headings (no cells) may run into the columns.
        let labelWidth = (all.filter { $0.1.contains { !$0.isEmpty } }.map(\.0.count).max() ?? 0) + 2
        let widths = layouts.indices.map { i in Swift.max(16, (all.map { $0.1[i].count }.max() ?? 0) + 2) }
        var lines = all.map { label, cells in
            cells.allSatisfy(\.isEmpty) ? label
                : label.padding(labelWidth) + zip(cells, widths).map { $0.leftPadding($1) }.joined()
        }
        if repeats > 1 {
            lines.append("measured: median over \(repeats) runs of each run's median over ranks and steps, "
                         + "[min–max] over the runs; a ratio's range is min/max of the first to max/min; "
                         + "~ marks a ratio whose ranges overlap (within the noise)")
        }
        if modeledDeviceMsShown(layouts, modeled: modeled) {
            lines.append("expert device ms: modeled compute, what the device takes per step on the slowest rank (the critical path)")
        }
        if let system = first.modeledOn {
            lines.append("times modeled on \(system), each phase on its slowest rank (what the critical path waits for); "
                         + "step: the critical path across ranks; the same inputs give the same numbers")
        }
        return lines.joined(separator: "\n")
    }

    /// The config's own modeled device (`compute: modeled`'s tflops) is shown only
    /// without a system, whose device model gives the expert times instead.
    private static func modeledDeviceMsShown(_ layouts: [LayoutSummary], modeled: Bool) -> Bool {
        !modeled && layouts.contains { $0.modeledDeviceMs != nil }
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
                pairs.append(("measured_ratio_to_first", .object(Phase.allCases.map { phase in
                    let v = l.measuredMs[phase] ?? Spread([0]), base = first?.measuredMs[phase] ?? Spread([0])
                    guard let r = v.ratio(to: base) else { return (phase.description, .null) }
                    return (phase.description, .object([
                        ("ratio", .double(r.ratio)), ("min", .double(r.min)),
                        ("max", r.max.isFinite ? .double(r.max) : .null),
                        ("within_noise", .bool(v.overlaps(base))),
                    ]))
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
