import EpsimCore

/// `epsim sweep`: the cross product of `--vary key=v1,v2,...` overrides, and the Pareto
/// front of (step time, drop rate) over the points.
public enum Sweep {
    /// One `--vary` axis: a config key path and its values, as `--set` would take them.
    public struct Axis: Sendable, Equatable {
        public var key: String
        public var values: [String]

        /// Parses `key=v1,v2,...`. Commas inside brackets or braces belong to the value
        /// (`--vary 'tokens=[64,128],[128,64]'`). Throws naming the argument.
        public init(parsing text: String) throws(ConfigError) {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                throw ConfigError(file: "--vary", keyPath: "", "expected key=v1,v2,..., got '\(text)'")
            }
            key = String(text[..<eq]).trimmingWhitespace
            var values: [String] = [], current = "", depth = 0
            for ch in text[text.index(after: eq)...] {
                switch ch {
                case "[", "{": depth += 1; current.append(ch)
                case "]", "}": depth -= 1; current.append(ch)
                case "," where depth == 0: values.append(current); current = ""
                default: current.append(ch)
                }
            }
            values.append(current)
            self.values = values.map(\.trimmingWhitespace)
            if self.values.contains(where: \.isEmpty) {
                throw ConfigError(file: "--vary", keyPath: key, "empty value in '\(text)'")
            }
        }
    }

    /// Every combination of the axes' values, the first axis varying slowest; each point
    /// as `--set` overrides in axis order.
    public static func points(_ axes: [Axis]) -> [[String]] {
        var points: [[String]] = [[]]
        for axis in axes {
            points = points.flatMap { p in axis.values.map { p + ["\(axis.key)=\($0)"] } }
        }
        return points
    }

    /// For each point, whether no other point is at least as good in both step time and
    /// drop rate and strictly better in one (lower is better for both).
    public static func paretoFront(stepMs: [Double], dropRate: [Double]) -> [Bool] {
        precondition(stepMs.count == dropRate.count)
        return stepMs.indices.map { i in
            !stepMs.indices.contains { j in
                j != i && stepMs[j] <= stepMs[i] && dropRate[j] <= dropRate[i]
                    && (stepMs[j] < stepMs[i] || dropRate[j] < dropRate[i])
            }
        }
    }

    /// For each point, whether its place on the Pareto front is inside the noise of the
    /// step times (`steps`: each point's spread over runs): it is on the front for some
    /// values inside the ranges and off it for others. A point `j` may dominate `i` when
    /// `j` drops no more and `steps[j].min` is at most `steps[i].max` (one strictly
    /// better); it surely does when `steps[j].max` is at most `steps[i].min`. With one
    /// run per point (or modeled times) no point is inside the noise.
    public static func paretoWithinNoise(steps: [Spread], dropRate: [Double]) -> [Bool] {
        precondition(steps.count == dropRate.count)
        func dominates(_ j: Int, _ i: Int, _ fast: Double, _ slow: Double) -> Bool {
            dropRate[j] <= dropRate[i] && fast <= slow && (fast < slow || dropRate[j] < dropRate[i])
        }
        return steps.indices.map { i in
            let possibly = steps.indices.contains { j in j != i && dominates(j, i, steps[j].min, steps[i].max) }
            let surely = steps.indices.contains { j in j != i && dominates(j, i, steps[j].max, steps[i].min) }
            return possibly != surely
        }
    }

    /// One row of the sweep table.
    public struct Row: Sendable {
        public var overrides: [String]
        public var summary: LayoutSummary
        /// On the front of the medians (`paretoFront`).
        public var pareto: Bool
        /// The mark is inside the noise (`paretoWithinNoise`).
        public var paretoWithinNoise = false
    }

    /// The rows of the points run so far (`summaries` in the order of `overrides`, maybe
    /// fewer), the front over those.
    public static func rows(overrides: [[String]], summaries: [LayoutSummary]) -> [Row] {
        let front = paretoFront(stepMs: summaries.map(\.stepMs), dropRate: summaries.map(\.dropRate))
        let noise = paretoWithinNoise(steps: summaries.map(\.stepSpread), dropRate: summaries.map(\.dropRate))
        return summaries.indices.map {
            Row(overrides: overrides[$0], summary: summaries[$0], pareto: front[$0], paretoWithinNoise: noise[$0])
        }
    }

    /// The table: one row per point, `*` marking the Pareto front, `~` a mark inside the
    /// noise; with several runs per point the step time's range [min–max] beside it.
    public static func text(_ rows: [Row], axes: [Axis]) -> String {
        let keyWidths = axes.indices.map { a in
            max(axes[a].key.count, rows.map { value(of: $0.overrides[a]).count }.max() ?? 0) + 2
        }
        let repeats = rows.map(\.summary.repeats).max() ?? 1
        let ranged = repeats > 1 && rows.contains { $0.summary.stepSpread.isRange }
        var header = ""
        for (a, axis) in axes.enumerated() { header += axis.key.padding(keyWidths[a]) }
        header += "step ms".leftPadding(11) + (ranged ? "  [min–max]".padding(22) : "")
            + "comm".leftPadding(9) + "drop".leftPadding(9)
            + "reroute".leftPadding(9) + "lost".leftPadding(9) + "imbalance e/r".leftPadding(15) + "  pareto"
        var lines = [header]
        for row in rows {
            var line = ""
            for a in axes.indices { line += value(of: row.overrides[a]).padding(keyWidths[a]) }
            let s = row.summary, step = s.stepSpread
            line += String(format3: s.stepMs).leftPadding(11)
                + (ranged ? ("  [" + String(format3: step.min) + "–" + String(format3: step.max) + "]").padding(22) : "")
                + percent(s.communicationShare).leftPadding(9)
                + percent(s.dropRate).leftPadding(9)
                + percent(s.rerouteRate).leftPadding(9)
                + percent(s.weightLostRate).leftPadding(9)
                + (String(format2: s.expertImbalance) + "/" + String(format2: s.rankImbalance)).leftPadding(15)
                + (row.pareto ? (row.paretoWithinNoise ? "  *~" : "  *") : (row.paretoWithinNoise ? "  ~" : ""))
            lines.append(line)
        }
        lines.append("* on the Pareto front of (step time, drop rate): no other point is faster without dropping more")
        if ranged {
            lines.append("step ms: median over \(repeats) runs, [min–max] over them; ~: on or off the front only within "
                         + "that noise (another point's range overlaps)")
        }
        lines.append("lost: share of the routing weight dropped; imbalance e/r: expert / rank (max over mean)")
        if let system = rows.first?.summary.modeledOn {
            lines.append("step times modeled on \(system) (the critical path across ranks): the same inputs give the same front")
        }
        return lines.joined(separator: "\n")
    }

    /// `key,...,step_ms,communication_share,drop_rate,reroute_rate,expert_imbalance,
    /// rank_imbalance,total_bytes,pareto,times,step_ms_min,step_ms_max,repeats,
    /// pareto_within_noise,dropped_weight_share,off_rank_bytes` (`times`: measured, or
    /// modeled on NAME; columns are only appended).
    public static func csv(_ rows: [Row], axes: [Axis]) -> String {
        var text = axes.map { csvField($0.key) }.joined(separator: ",")
            + ",step_ms,communication_share,drop_rate,reroute_rate,expert_imbalance,rank_imbalance,total_bytes,pareto,times"
            + ",step_ms_min,step_ms_max,repeats,pareto_within_noise,dropped_weight_share,off_rank_bytes\n"
        for row in rows {
            let s = row.summary, step = s.stepSpread
            text += row.overrides.map { csvField(value(of: $0)) }.joined(separator: ",")
                + ",\(s.stepMs),\(s.communicationShare),\(s.dropRate),\(s.rerouteRate),\(s.expertImbalance)"
                + ",\(s.rankImbalance),\(s.totalBytes),\(row.pareto),"
                + csvField(s.modeledOn.map { "modeled on \($0)" } ?? "measured")
                + ",\(step.min),\(step.max),\(s.repeats),\(row.paretoWithinNoise),\(s.weightLostRate),\(s.offRankBytes)\n"
        }
        return text
    }

    /// `epsim.sweep/1`; `finished`: whether every point of the grid is in `rows` (a file
    /// written while the sweep runs, or left by one that failed, says false).
    public static func json(_ rows: [Row], axes: [Axis], config: String, finished: Bool = true) -> JSONValue {
        .object([
            ("schema", .string("epsim.sweep/1")),
            ("epsim_version", .string(EpsimVersion.string)),
            ("config", .string(config)),
            ("axes", .array(axes.map { .object([("key", .string($0.key)), ("values", .array($0.values.map { .string($0) }))]) })),
            ("finished", .bool(finished)),
            ("points", .array(rows.map { row in
                var pairs: [(String, JSONValue)] = [
                    ("overrides", .array(row.overrides.map { .string($0) })),
                    ("pareto", .bool(row.pareto)),
                    ("pareto_within_noise", .bool(row.paretoWithinNoise)),
                ]
                if case let .object(p) = row.summary.json { pairs += p }
                return .object(pairs)
            })),
        ])
    }

    /// A sweep's `--csv` and `--output` files, rewritten whole (atomically) after every
    /// point, so a sweep that fails at a later point leaves every finished point on disk
    /// (`finished: false` in the JSON). A path that is a device, FIFO or pipe
    /// (`AtomicFile.Writer.writesInPlace`) is written once, at the end.
    public final class Files {
        private let csv: String?
        private let json: String?
        /// Writers of the in-place paths (committed at the end), nil for the others.
        private var atEnd: [AtomicFile.Writer?]

        /// Opens both paths to check them before the first point runs (throws
        /// `AtomicFile.WriteError` naming the path).
        public init(csv: String?, json: String?) throws {
            self.csv = csv
            self.json = json
            atEnd = try [csv, json].map { path in
                guard let path else { return nil }
                let writer = try AtomicFile.Writer(path: path)
                return writer.writesInPlace ? writer : nil
            }
        }

        /// Writes `rows` (the points run so far; `finished`: all of them) to every regular
        /// file, and with `finished` to the in-place ones too.
        public func write(_ rows: [Row], axes: [Axis], config: String, finished: Bool) throws {
            let texts = [Sweep.csv(rows, axes: axes),
                         Sweep.json(rows, axes: axes, config: config, finished: finished).serialized() + "\n"]
            for (i, path) in [csv, json].enumerated() {
                guard let path else { continue }
                if let writer = atEnd[i] {
                    if finished { try writer.commit(texts[i]) }
                } else {
                    try AtomicFile.write(texts[i], to: path)
                }
            }
        }
    }

    private static func value(of override: String) -> String {
        guard let eq = override.firstIndex(of: "=") else { return override }
        return String(override[override.index(after: eq)...])
    }

    private static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + s.replacingAll("\"", with: "\"\"") + "\"" : s
    }
}
