import Foundation

/// One key set to one odd value (wrong type, out of range, extreme), on the smallest
/// layout, in the file or through `--set`. What the value must lead to follows from
/// docs/config.md: out of the documented range or of the wrong type is an error naming
/// the key; in range but extreme (1e300, 9223372036854775807) may run or be refused,
/// but must do either correctly.
enum FuzzMutations {
    enum KeyType: Sendable {
        case int(min: Int, max: Int?)
        /// non-negative integer of any size (UInt64)
        case seed
        /// equal to the world size
        case ranks
        case double(@Sendable (Double) -> Bool)
        case choice([String])
        case bool
    }

    struct KeySpec: Sendable {
        var path: String
        var type: KeyType
        /// Keys set first so the mutated key is used (e.g. workload.kind for workload.exponent).
        var context: [(String, YNode)] = []
        /// Besides `path`, keys a correct message may name instead.
        var alsoMentions: [String] = []
        /// Words the key also accepts (`none`, `all`).
        var words: [String] = []
    }

    static let huge = String(repeating: "x", count: 70_000)
    static let oddValues = ["0", "-1", "1", "3", "64", "1e300", "1e-300", "9223372036854775807",
                            "9223372036854775808", "-9223372036854775808", ".nan", "nan", ".inf", "-.inf",
                            "1.5", "2.0", "abc", huge, "true", "[1, 2]", "{a: 1}", "~", "''", "0x10", "1_000"]

    static let zipf: YNode = .map([("kind", .raw("zipf")), ("exponent", .raw("1.1"))])
    static let hot: YNode = .map([("kind", .raw("hot")), ("experts", .ints([0])), ("fraction", .raw("0.5"))])
    static let modeled: YNode = .map([("mode", .raw("modeled")), ("tflops", .raw("100")), ("efficiency", .raw("0.5"))])

    static let specs: [KeySpec] = [
        KeySpec(path: "tokens", type: .int(min: 0, max: nil)),
        KeySpec(path: "steps", type: .int(min: 1, max: nil)),
        KeySpec(path: "warmup_steps", type: .int(min: 0, max: nil)),
        KeySpec(path: "seed", type: .seed),
        KeySpec(path: "ranks", type: .ranks),
        KeySpec(path: "model.hidden", type: .int(min: 1, max: nil)),
        KeySpec(path: "model.ffn", type: .int(min: 1, max: nil)),
        KeySpec(path: "model.experts", type: .int(min: 2, max: nil), alsoMentions: ["model.top_k"]),
        KeySpec(path: "model.top_k", type: .int(min: 1, max: 4), alsoMentions: ["model.experts"]),
        KeySpec(path: "model.shared_experts", type: .int(min: 0, max: nil)),
        KeySpec(path: "model.layers", type: .int(min: 1, max: nil)),
        KeySpec(path: "model.activation", type: .choice(["swiglu", "gelu"])),
        KeySpec(path: "router.score", type: .choice(["softmax", "sigmoid"])),
        KeySpec(path: "router.weights", type: .choice(["softmax_topk", "normalized", "raw"])),
        KeySpec(path: "router.noise_std", type: .double { $0 >= 0 }),
        KeySpec(path: "router.groups", type: .int(min: 1, max: 2), alsoMentions: ["router.groups_per_token", "model.top_k"]),
        KeySpec(path: "router.groups_per_token", type: .int(min: 1, max: 2),
                context: [("router.groups", .int(2))], alsoMentions: ["router.groups"]),
        KeySpec(path: "router.seed", type: .seed),
        KeySpec(path: "router.bias", type: .double { _ in true }),  // one entry of a list of 4
        KeySpec(path: "workload", type: .choice(["gating", "uniform"])),
        KeySpec(path: "workload.exponent", type: .double { $0 > 0 }, context: [("workload", zipf)]),
        KeySpec(path: "workload.fraction", type: .double { $0 > 0 && $0 < 1 }, context: [("workload", hot)]),
        KeySpec(path: "capacity.factor", type: .double { $0 > 0 }, words: ["none"]),
        KeySpec(path: "capacity.min_capacity", type: .int(min: 0, max: nil)),
        KeySpec(path: "capacity.scope", type: .choice(["local", "global"])),
        KeySpec(path: "capacity.priority", type: .choice(["position", "slot_position", "score"])),
        KeySpec(path: "overflow.policy", type: .choice(["drop", "reroute"])),
        KeySpec(path: "overflow.max_reroutes", type: .int(min: 1, max: nil),
                context: [("overflow.policy", .raw("reroute"))], words: ["all"]),
        KeySpec(path: "overflow.reroute_scope", type: .choice(["any", "same_rank", "source_rank"]),
                context: [("overflow.policy", .raw("reroute"))]),
        KeySpec(path: "overflow.renormalize", type: .bool),
        KeySpec(path: "placement", type: .choice(["contiguous"])),
        KeySpec(path: "placement.kind", type: .choice(["contiguous"])),
        KeySpec(path: "dispatch.dedup", type: .choice(FuzzLayouts.dedups)),
        KeySpec(path: "precision.dispatch", type: .choice(FuzzLayouts.precisions)),
        KeySpec(path: "precision.combine", type: .choice(FuzzLayouts.precisions)),
        KeySpec(path: "compute", type: .choice(["real", "modeled"])),
        KeySpec(path: "compute.mode", type: .choice(["real", "modeled"])),
        KeySpec(path: "compute.tflops", type: .double { $0 > 0 }, context: [("compute", modeled)]),
        KeySpec(path: "compute.efficiency", type: .double { $0 > 0 && $0 <= 1 }, context: [("compute", modeled)]),
        KeySpec(path: "overlap.chunks", type: .int(min: 1, max: 64)),
        KeySpec(path: "tokens[i]", type: .int(min: 0, max: nil), alsoMentions: ["tokens"]),
    ]

    /// Values tried on a key: the odd values, plus near misses for words.
    static func values(for spec: KeySpec) -> [String] {
        switch spec.type {
        case let .choice(names):
            let typo = String(names[0].dropLast())
            return names + [typo, names[0].uppercased(), "1", "-1", "1e300", ".nan", "[\(names[0])]",
                            "{a: b}", huge, "''", "~", "none"]
        case .bool:
            return ["true", "false", "yes", "off", "2", "maybe", "[true]", "~", ".nan", huge]
        default:
            return oddValues + spec.words
        }
    }

    /// The case for `spec` set to `value` on the plain layout of `ranks` ranks.
    static func keyValue(_ g: inout FuzzRNG, index: Int, ranks P: Int, spec: KeySpec, value: String) -> FuzzCase {
        var config = FuzzLayouts.plain(&g, ranks: P)
        for (path, node) in spec.context { config.set(path.split(separator: ".").map(String.init), node) }
        var expect = classify(value, spec.type, ranks: P)
        if spec.words.contains(value) { expect = .run }
        // `tokens` also takes one count per rank: [1, 2] is right on 2 ranks.
        if spec.path == "tokens" && value == "[1, 2]" { expect = P == 2 ? .run : .error }
        var path = spec.path, node = YNode.raw(value)
        if spec.path == "router.bias" {  // one entry of a list of E = 4
            let i = g.int(0...3)
            path = "router.bias"
            node = .list((0..<4).map { $0 == i ? .raw(value) : .raw("0.1") })
        } else if spec.path == "tokens[i]" {
            let i = g.int(0...(P - 1))
            path = "tokens"
            node = .list((0..<P).map { $0 == i ? .raw(value) : .int(3) })
        }
        let viaSet = g.chance(0.25)
        var c = FuzzCase(index: index, label: "\(spec.path)=\(value.count > 20 ? "<\(value.count) chars>" : value)",
                         config: config, ranks: P, expect: expect, mentions: [path] + spec.alsoMentions)
        if viaSet {
            c.overrides = ["\(path)=\(node.flow)"]
            c.viaSet = expect == .error
            c.label += " (--set)"
        } else {
            c.config.set(path.split(separator: ".").map(String.init), node)
        }
        c.routingOut = g.chance(0.3)
        return c
    }

    // MARK: classification

    static func isNull(_ t: String) -> Bool { ["~", "null", "Null", "NULL"].contains(t) }

    /// YAML's float spellings, as Double (nil: not a number).
    static func number(_ t: String) -> Double? {
        switch t.lowercased() {
        case ".nan": return .nan
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        default: return Double(t.replacingOccurrences(of: "_", with: ""))
        }
    }

    static func classify(_ t: String, _ type: KeyType, ranks P: Int) -> FuzzCase.Expect {
        // YAML null, YAML 1.1's hex and 1_000: readers differ (Yams reads 1.2; epsim's ints take 1_000).
        if isNull(t) || t == "0x10" || t.contains("_") { return .either }
        switch type {
        case let .choice(names):
            if names.contains(t) { return .run }
            return names.contains(t.lowercased()) ? .either : .error
        case .bool:
            if t == "true" || t == "false" { return .run }
            return ["yes", "no", "on", "off"].contains(t.lowercased()) ? .either : .error
        case .seed:
            if let n = UInt64(t.replacingOccurrences(of: "_", with: "")) { return n <= 1_000_000 ? .run : .either }
            return integral(t, min: 0, max: nil) ? .either : .error
        case .ranks:
            if let n = Int(t) { return n == P ? .run : .error }
            return integral(t, min: P, max: P) ? .either : .error
        case let .int(lower, upper):
            if let n = Int(t.replacingOccurrences(of: "_", with: "")) {
                if n < lower || n > (upper ?? .max) { return .error }
                return n <= 64 ? .run : .either
            }
            return integral(t, min: lower, max: upper) ? .either : .error
        case let .double(valid):
            guard let v = number(t), !v.isNaN, t.lowercased() != "nan" else { return .error }
            guard valid(v) else { return .error }
            if !v.isFinite || abs(v) > 1e6 || (v != 0 && abs(v) < 1e-6) { return .either }
            return .run
        }
    }

    /// A float spelling of a small integer in range (2.0): readers may take it or not.
    static func integral(_ t: String, min lower: Int, max upper: Int?) -> Bool {
        guard let v = number(t), v.isFinite, v == v.rounded(), abs(v) <= 64 else { return false }
        return Int(v) >= lower && Int(v) <= (upper ?? .max)
    }
}
