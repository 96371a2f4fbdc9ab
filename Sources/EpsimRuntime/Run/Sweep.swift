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

    /// One row of the sweep table.
    public struct Row: Sendable {
        public var overrides: [String]
        public var summary: LayoutSummary
        public var pareto: Bool
    }

    public static func rows(overrides: [[String]], summaries: [LayoutSummary]) -> [Row] {
        let front = paretoFront(stepMs: summaries.map(\.stepMs), dropRate: summaries.map(\.dropRate))
        return summaries.indices.map { Row(overrides: overrides[$0], summary: summaries[$0], pareto: front[$0]) }
    }

    /// The table: one row per point, `*` marking the Pareto front.
    public static func text(_ rows: [Row], axes: [Axis]) -> String {
        let keyWidths = axes.indices.map { a in
            max(axes[a].key.count, rows.map { value(of: $0.overrides[a]).count }.max() ?? 0) + 2
        }
        var header = ""
        for (a, axis) in axes.enumerated() { header += axis.key.padding(keyWidths[a]) }
        header += "step ms".leftPadding(11) + "comm".leftPadding(9) + "drop".leftPadding(9)
            + "reroute".leftPadding(9) + "imbalance".leftPadding(11) + "  pareto"
        var lines = [header]
        for row in rows {
            var line = ""
            for a in axes.indices { line += value(of: row.overrides[a]).padding(keyWidths[a]) }
            let s = row.summary
            line += String(format3: s.stepMs).leftPadding(11)
                + percent(s.communicationShare).leftPadding(9)
                + percent(s.dropRate).leftPadding(9)
                + percent(s.rerouteRate).leftPadding(9)
                + String(format2: s.expertImbalance).leftPadding(11)
                + (row.pareto ? "  *" : "")
            lines.append(line)
        }
        lines.append("* on the Pareto front of (step time, drop rate): no other point is faster without dropping more")
        if let system = rows.first?.summary.modeledOn {
            lines.append("step times modeled on \(system) (the critical path across ranks): the same inputs give the same front")
        }
        return lines.joined(separator: "\n")
    }

    /// `key,...,step_ms,communication_share,drop_rate,reroute_rate,expert_imbalance,
    /// rank_imbalance,total_bytes,pareto,times` (`times`: measured, or modeled on NAME).
    public static func csv(_ rows: [Row], axes: [Axis]) -> String {
        var text = axes.map { csvField($0.key) }.joined(separator: ",")
            + ",step_ms,communication_share,drop_rate,reroute_rate,expert_imbalance,rank_imbalance,total_bytes,pareto,times\n"
        for row in rows {
            let s = row.summary
            text += row.overrides.map { csvField(value(of: $0)) }.joined(separator: ",")
                + ",\(s.stepMs),\(s.communicationShare),\(s.dropRate),\(s.rerouteRate),\(s.expertImbalance)"
                + ",\(s.rankImbalance),\(s.totalBytes),\(row.pareto),"
                + csvField(s.modeledOn.map { "modeled on \($0)" } ?? "measured") + "\n"
        }
        return text
    }

    public static func json(_ rows: [Row], axes: [Axis], config: String) -> JSONValue {
        .object([
            ("schema", .string("epsim.sweep/1")),
            ("epsim_version", .string(EpsimVersion.string)),
            ("config", .string(config)),
            ("axes", .array(axes.map { .object([("key", .string($0.key)), ("values", .array($0.values.map { .string($0) }))]) })),
            ("points", .array(rows.map { row in
                var pairs: [(String, JSONValue)] = [
                    ("overrides", .array(row.overrides.map { .string($0) })),
                    ("pareto", .bool(row.pareto)),
                ]
                if case let .object(p) = row.summary.json { pairs += p }
                return .object(pairs)
            })),
        ])
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
