/// One config key: its YAML path, the values it takes, its default, what it means, and
/// how to find its resolved value in a `SimConfig`. `ConfigKeys.table` lists every key;
/// the loader's key lists, `ConfigValidator`, the resolved config (`epsim validate`,
/// the result file) and the table in docs/config.md all come from it.
///
/// A range is what the code can honour: every product the run forms from values in
/// range fits its integer types (per-rank assignment indices are Int32, so
/// tokens × top_k is a rule as well), every modeled time fits a `timespec`, and every
/// figure a report prints fits the formatter. Whether the memory a layout needs is
/// there is a separate check (`MemoryEstimate`).
public struct ConfigKey: Sendable {
    public enum Values: Sendable, Equatable {
        /// Integers in the closed range (each entry, for a key that takes a list).
        case integer(ClosedRange<Int>)
        /// Finite numbers between the bounds; `open` bounds are excluded.
        case number(lower: Double, lowerOpen: Bool, upper: Double, upperOpen: Bool)
        /// One of these names.
        case names([String])
        case bool
        /// Any integer in [0, 2^64 − 1].
        case seed
        case path
        /// A list of mappings whose keys have rows of their own (`placement.replicas[].expert`).
        case mappings
    }

    /// YAML key path; `[]` stands for any list index (`placement.replicas[].expert`).
    public let path: String
    public let values: Values
    /// Words the key takes besides `values`, standing for no limit (`none`, `all`).
    public let words: [String]
    /// A condition involving other keys or the world size, checked by `rule` or by
    /// `ConfigValidator.check(_:worldSize:)`, e.g. "≤ `model.experts`".
    public let condition: String
    /// The default as docs/config.md writes it, when it is not the value in `SimConfig()`.
    let defaultText: String?
    /// One line for docs/config.md.
    public let doc: String
    /// The resolved value in a config; nil when the key does not apply to it (the
    /// exponent of a workload other than zipf), or for rows that only describe values
    /// nested in another key's.
    let value: (@Sendable (SimConfig) -> JSONValue?)?
    /// Checks `condition` when the key has a value (`ConfigValidator`'s rules).
    let rule: (@Sendable (SimConfig) throws(ConfigError) -> Void)?

    /// What a value must be, as messages write it: "an integer in [1, 65536]",
    /// "a number in (0, 1e6] or 'none'", "one of drop, reroute".
    public var expected: String {
        let base: String
        switch values {
        case let .integer(r): base = "an integer in [\(r.lowerBound), \(r.upperBound)]"
        case .number: base = "a number in \(rangeText)"
        case let .names(names): base = "one of \(names.joined(separator: ", "))"
        case .bool: base = "true or false"
        case .seed: base = "a non-negative integer"
        case .path: base = "a file path"
        case .mappings: base = "a list of mappings"
        }
        return ([base] + words.map { "'\($0)'" }).joined(separator: " or ")
    }

    /// The message for a value outside `values`, as `shown`.
    func outOfRange(_ shown: String) -> String { "expected \(expected), got \(shown)" }

    /// `[1, 65536]`, `(0, 1e6]`; empty for keys that are not numbers.
    public var rangeText: String {
        switch values {
        case let .integer(r): return "[\(r.lowerBound), \(r.upperBound)]"
        case let .number(lower, lowerOpen, upper, upperOpen):
            return (lowerOpen ? "(" : "[") + ConfigKey.number(lower) + ", " + ConfigKey.number(upper) + (upperOpen ? ")" : "]")
        default: return ""
        }
    }

    /// Whether `value` (a scalar of the resolved config) is one this key takes.
    func accepts(_ value: JSONValue) -> Bool {
        switch (values, value) {
        case (_, .null): return true
        case let (_, .string(word)) where words.contains(word): return true
        case let (.integer(r), .int(n)): return r.contains(n)
        case let (.number, .int(n)): return contains(Double(n))
        case let (.number, .double(x)): return contains(x)
        case let (.names(names), .string(name)): return names.contains(name)
        case (.bool, .bool), (.seed, .string), (.path, .string): return true
        default: return false
        }
    }

    func contains(_ value: Double) -> Bool {
        guard case let .number(lower, lowerOpen, upper, upperOpen) = values, value.isFinite else { return false }
        return (lowerOpen ? value > lower : value >= lower) && (upperOpen ? value < upper : value <= upper)
    }

    /// A scalar of the resolved config as messages show it: 2, 1.5, 1e17, 'abc'.
    static func shown(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(n): return String(n)
        case let .double(x): return number(x)
        case let .string(s): return "'\(s)'"
        case .array: return "a list"
        case .object: return "a mapping"
        }
    }

    /// 1000000 as `1e6`, 1e300 as `1e300`, 0.001 as `0.001`, 2 as `2`.
    static func number(_ x: Double) -> String {
        var power = 1.0, n = 0
        while power < abs(x) && n < 22 { power *= 10; n += 1 }
        if n >= 4 && power == abs(x) { return (x < 0 ? "-" : "") + "1e\(n)" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
        return "\(x)".replacingOccurrences(of: "e+", with: "e")
    }
}

extension ConfigKey {
    /// The cell of the values column of docs/config.md: the range or names, the words,
    /// and the condition.
    var valuesText: String {
        var text: String
        switch values {
        case .integer, .number: text = rangeText
        case let .names(names): text = names.map { "`\($0)`" }.joined(separator: ", ")
        case .bool: text = "`true`, `false`"
        case .seed: text = "[0, 2⁶⁴ − 1]"
        case .path: text = "a file path"
        case .mappings: text = "a list of mappings"
        }
        text += words.map { " or `\($0)`" }.joined()
        return condition.isEmpty ? text : text + "; " + condition
    }

    /// The default cell of docs/config.md: `defaultText`, else the value in `SimConfig()`.
    var defaultCell: String {
        if let defaultText { return defaultText }
        guard let value = value?(SimConfig()) else { return "—" }
        switch (values, value) {
        case let (_, .double(x)): return ConfigKey.number(x)
        case (.seed, _): return ConfigLoader.flow(value)
        case (_, .string), (_, .array), (_, .object): return "`" + ConfigLoader.flow(value) + "`"
        default: return ConfigLoader.flow(value)
        }
    }

    /// The row of docs/config.md.
    var markdownRow: String {
        "| `\(path)` | \(defaultCell) | \(valuesText) | \(doc) |"
    }
}
