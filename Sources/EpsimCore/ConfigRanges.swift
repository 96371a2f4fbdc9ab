/// The range of every numeric config key, in one table: `ConfigReader` checks each
/// value against it as the key is read, and docs/config.md lists the same ranges.
///
/// A range is what the code can honour: every product the run forms from values in
/// range fits its integer types (per-rank assignment indices are Int32, so
/// tokens × top_k is checked as well, in `ConfigRanges.checkProducts`), every modeled
/// time fits a `timespec`, and every figure a report prints fits the formatter. Whether
/// the memory a layout needs is there is a separate check (`MemoryEstimate`).
public struct KeyRange: Sendable, Equatable {
    public enum Bounds: Sendable, Equatable {
        /// Integers in the closed range.
        case integer(ClosedRange<Int>)
        /// Finite numbers between the bounds; `open` bounds are excluded.
        case number(lower: Double, lowerOpen: Bool, upper: Double, upperOpen: Bool)
    }

    /// YAML key path; `[]` stands for any list index (`tokens[]`, `placement.ranks[][]`).
    public let key: String
    public let bounds: Bounds
    /// A further condition on the value, e.g. "≤ model.experts", checked elsewhere.
    public let note: String

    /// The range as docs/config.md and messages write it, e.g. `[1, 65536]`, `(0, 1e6]`.
    public var text: String {
        switch bounds {
        case let .integer(r): return "[\(r.lowerBound), \(r.upperBound)]"
        case let .number(lower, lowerOpen, upper, upperOpen):
            return (lowerOpen ? "(" : "[") + KeyRange.number(lower) + ", " + KeyRange.number(upper) + (upperOpen ? ")" : "]")
        }
    }

    public func contains(_ value: Double) -> Bool {
        guard case let .number(lower, lowerOpen, upper, upperOpen) = bounds, value.isFinite else { return false }
        return (lowerOpen ? value > lower : value >= lower) && (upperOpen ? value < upper : value <= upper)
    }

    /// 1000000 as `1e6`, 0.001 as `0.001`, 1 as `1`.
    static func number(_ x: Double) -> String {
        var power = 1.0, n = 0
        while power < abs(x) && n < 308 { power *= 10; n += 1 }
        if n >= 4 && power == abs(x) { return (x < 0 ? "-" : "") + "1e\(n)" }
        if x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
        return "\(x)"
    }
}

public enum ConfigRanges {
    static let maxExperts = 65_536
    static let maxRanks = 65_536

    /// Every numeric key. Keys not listed here are names, booleans or paths.
    public static let table: [KeyRange] = [
        int("ranks", 1...maxRanks, ""),
        int("tokens", 0...Int(Int32.max), "tokens × model.top_k ≤ 2³¹ − 1"),
        int("tokens[]", 0...Int(Int32.max), "one entry per rank; tokens × model.top_k ≤ 2³¹ − 1"),
        int("steps", 1...Int(Int32.max), ""),
        int("warmup_steps", 0...1_000_000, ""),
        int("model.hidden", 1...(1 << 24), ""),
        int("model.ffn", 1...(1 << 24), ""),
        int("model.experts", 1...maxExperts, ""),
        int("model.top_k", 1...maxExperts, "≤ model.experts"),
        int("model.shared_experts", 0...1024, ""),
        int("model.layers", 1...1_000_000, ""),
        number("router.noise_std", 0, upper: 1000, ""),
        number("router.bias[]", -1e6, upper: 1e6, "model.experts entries"),
        int("router.groups", 1...maxExperts, "divides model.experts"),
        int("router.groups_per_token", 1...maxExperts, "≤ router.groups"),
        number("workload.exponent", 0, lowerOpen: true, upper: 100, ""),
        int("workload.experts[]", 0...(maxExperts - 1), "< model.experts"),
        number("workload.fraction", 0, lowerOpen: true, upper: 1, upperOpen: true, ""),
        number("capacity.factor", 0, lowerOpen: true, upper: 1e6, "or none"),
        int("capacity.min_capacity", 0...Int(Int32.max), ""),
        int("overflow.max_reroutes", 1...maxExperts, "or all"),
        int("placement.ranks[][]", 0...(maxExperts - 1), "< model.experts"),
        int("placement.replicas[].expert", 0...(maxExperts - 1), "< model.experts"),
        int("placement.replicas[].ranks[]", 0...(maxRanks - 1), "< the world size"),
        number("compute.tflops", 0.001, upper: 1e6, ""),
        number("compute.efficiency", 0.001, upper: 1, ""),
        int("overlap.chunks", 1...64, ""),
    ]

    private static func int(_ key: String, _ r: ClosedRange<Int>, _ note: String) -> KeyRange {
        KeyRange(key: key, bounds: .integer(r), note: note)
    }

    private static func number(_ key: String, _ lower: Double, lowerOpen: Bool = false, upper: Double,
                               upperOpen: Bool = false, _ note: String) -> KeyRange {
        KeyRange(key: key, bounds: .number(lower: lower, lowerOpen: lowerOpen, upper: upper, upperOpen: upperOpen),
                 note: note)
    }

    private static let byKey: [String: KeyRange] = Dictionary(uniqueKeysWithValues: table.map { ($0.key, $0) })

    /// The range of the key at `path` (list indices ignored: `tokens[3]` is `tokens[]`).
    /// Reading a numeric key that has no entry is a programming error.
    public static func range(for path: String) -> KeyRange {
        guard let range = byKey[pattern(path)] else { preconditionFailure("no range for config key \(path)") }
        return range
    }

    /// `placement.ranks[2][0]` -> `placement.ranks[][]`.
    static func pattern(_ path: String) -> String {
        var out = "", inIndex = false
        for ch in path {
            if ch == "[" { inIndex = true; out += "[]" } else if ch == "]" { inIndex = false } else if !inIndex { out.append(ch) }
        }
        return out
    }

    /// Checks that need several keys at once: tokens × top_k fits the Int32 assignment
    /// indices of every rank.
    static func checkProducts(_ c: SimConfig) throws(ConfigError) {
        let limit = Int(Int32.max)
        let largest: Int
        switch c.tokens {
        case let .uniform(n): largest = n
        case let .perRank(list): largest = list.max() ?? 0
        }
        let (product, overflow) = largest.multipliedReportingOverflow(by: c.model.topK)
        if overflow || product > limit {
            throw ConfigError(file: c.origin(of: "tokens"), keyPath: "tokens",
                              "\(largest) tokens × model.top_k \(c.model.topK) = \(overflow ? "more than 2^63" : String(product)) assignments on one rank; at most \(limit) are supported")
        }
    }
}
