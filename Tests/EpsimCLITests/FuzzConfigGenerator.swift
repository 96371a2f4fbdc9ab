import EpsimCore
import Foundation

// The fuzz suite's case model and its generator of valid small layouts. Mutations
// (FuzzMutations.swift) and malformed router traces (FuzzNpy.swift) build on these.

/// epsim's own repeatable generator (`SeededRandom`), one stream per (seed, stream,
/// index), so a case is a function of those three numbers.
struct FuzzRNG: RandomNumberGenerator {
    private var source: SeededRandom

    init(seed: UInt64, stream: UInt64 = 0, index: Int = 0) {
        source = SeededRandom.stream(seed: seed, stream, UInt64(index))
    }

    mutating func next() -> UInt64 { source.next() }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...(items.count - 1))] }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func normal() -> Float {
        let u = Double.random(in: 1e-12..<1, using: &self), v = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }
}

/// A YAML value, rendered as a block mapping at the top and flow style inside.
indirect enum YNode: Sendable {
    /// Written exactly as given (the generator controls quoting).
    case raw(String)
    case list([YNode])
    case map([(String, YNode)])

    static func int(_ n: Int) -> YNode { .raw(String(n)) }
    static func ints(_ ns: [Int]) -> YNode { .list(ns.map(YNode.int)) }

    /// Flow style: `{a: 1, b: [2, 3]}`.
    var flow: String {
        switch self {
        case let .raw(text): return text
        case let .list(items): return "[" + items.map(\.flow).joined(separator: ", ") + "]"
        case let .map(pairs): return "{" + pairs.map { "\($0.0): \($0.1.flow)" }.joined(separator: ", ") + "}"
        }
    }

    /// A document: one `key: flow` line per top-level key.
    var document: String {
        guard case let .map(pairs) = self else { return flow + "\n" }
        return pairs.map { "\($0.0): \($0.1.flow)\n" }.joined()
    }

    /// The value at a dotted path, if the path exists.
    func value(at path: [String]) -> YNode? {
        guard let first = path.first else { return self }
        guard case let .map(pairs) = self, let child = pairs.first(where: { $0.0 == first })?.1 else { return nil }
        return child.value(at: Array(path.dropFirst()))
    }

    /// Sets (or adds) the value at a dotted path, creating mappings on the way.
    mutating func set(_ path: [String], _ value: YNode) {
        guard let first = path.first else { self = value; return }
        var pairs: [(String, YNode)] = []
        if case let .map(existing) = self { pairs = existing }
        if let i = pairs.firstIndex(where: { $0.0 == first }) {
            pairs[i].1.set(Array(path.dropFirst()), value)
        } else {
            var child = YNode.map([])
            child.set(Array(path.dropFirst()), value)
            pairs.append((first, child))
        }
        self = .map(pairs)
    }
}

/// One generated run of `epsim run`: the files it needs and what it must end in.
struct FuzzCase: Sendable {
    enum Expect: String, Sendable {
        /// a valid layout: must run and pass --verify
        case run
        /// invalid input: must stop with one `epsim: error:` line naming one of `mentions`
        case error
        /// in range but extreme: either outcome, each with all its checks
        case either
    }

    var index: Int
    /// Groups failures in the report, e.g. "valid", "capacity.factor=1e300", "npy:bad magic".
    var label: String
    var config: YNode
    /// Replaces `config.document` when the file itself is the malformed input.
    var rawDocument: [UInt8]? = nil
    /// `--set` arguments (key=value) passed after the config.
    var overrides: [String] = []
    /// Files written beside the config (router traces), by name.
    var files: [String: [UInt8]] = [:]
    var ranks: Int
    var expect: Expect
    /// An error line must contain one of these (key paths, file names).
    var mentions: [String] = []
    /// The bad value came through `--set`: the error line must name `--set`.
    var viaSet = false
    var routingOut = false

    var documentBytes: [UInt8] { rawDocument ?? Array(config.document.utf8) }

    /// The case as a reader needs it to reproduce a failure (long values shortened).
    var description: String {
        var text = String(decoding: documentBytes.prefix(1500), as: UTF8.self)
        if documentBytes.count > 1500 { text += "… (\(documentBytes.count) bytes)" }
        let sets = overrides.map { "--set " + ($0.count > 200 ? String($0.prefix(200)) + "…" : $0) }
        return "ranks \(ranks), expect \(expect.rawValue)\(sets.isEmpty ? "" : ", " + sets.joined(separator: " "))"
            + (files.isEmpty ? "" : ", files " + files.keys.sorted().joined(separator: " ")) + "\n" + text
    }
}

/// Valid small layouts over every option; each runs in well under a second.
enum FuzzLayouts {
    static let scores = ["softmax", "sigmoid"], weights = ["softmax_topk", "normalized", "raw"]
    static let scopes = ["local", "global"], priorities = ["position", "slot_position", "score"]
    static let policies = ["drop", "reroute"], rerouteScopes = ["any", "same_rank", "source_rank"]
    static let precisions = ["fp32", "bf16", "fp16", "fp8_e4m3"], activations = ["swiglu", "gelu"]
    static let dedups = ["none", "rank"]

    /// The smallest layout a mutation is applied to: E = 4, k = 2, one step.
    static func plain(_ g: inout FuzzRNG, ranks: Int) -> YNode {
        .map([("tokens", .int(g.int(1...6))), ("steps", .int(1)), ("warmup_steps", .int(0)),
              ("seed", .int(g.int(0...99_999))),
              ("model", .map([("hidden", .int(4)), ("ffn", .int(4)), ("experts", .int(4)), ("top_k", .int(2))]))])
    }

    /// Token counts for `ranks` ranks: one number, or a list with some zeros.
    static func tokens(_ g: inout FuzzRNG, ranks: Int) -> (YNode, [Int]) {
        if g.chance(0.6) {
            let t = g.chance(0.1) ? 0 : g.int(1...12)
            return (.int(t), Array(repeating: t, count: ranks))
        }
        let list = (0..<ranks).map { _ in g.chance(0.3) ? 0 : g.int(1...12) }
        return (.ints(list), list)
    }

    /// A random valid layout for `ranks` ranks, and the trace files it names.
    static func random(_ g: inout FuzzRNG, ranks P: Int) -> (YNode, [String: [UInt8]]) {
        let E = g.pick([1, 2, 3, 4, 6, 8]), k = g.int(1...min(E, 3))
        let (tokenNode, perRank) = tokens(&g, ranks: P)
        var files: [String: [UInt8]] = [:]
        var c: [(String, YNode)] = [("tokens", tokenNode), ("steps", .int(g.int(1...2))),
                                    ("warmup_steps", .int(g.int(0...1))), ("seed", .int(g.int(0...1_000_000)))]
        if g.chance(0.3) { c.append(("ranks", .int(P))) }
        var model: [(String, YNode)] = [("hidden", .int(g.pick([1, 2, 4, 8, 16]))), ("ffn", .int(g.pick([1, 3, 8, 16]))),
                                        ("experts", .int(E)), ("top_k", .int(k)), ("layers", .int(g.int(1...4)))]
        if g.chance(0.3) { model.append(("shared_experts", .int(g.int(1...2)))) }
        if g.chance(0.5) { model.append(("activation", .raw(g.pick(activations)))) }
        c.append(("model", .map(model)))

        var router: [(String, YNode)] = [("score", .raw(g.pick(scores))), ("weights", .raw(g.pick(weights)))]
        if g.chance(0.3) { router.append(("noise_std", .raw(g.pick(["0", "0.1", "1.0"])))) }
        if g.chance(0.3) { router.append(("bias", .list((0..<E).map { _ in .raw(String(format: "%.3f", Double(g.normal()))) }))) }
        let divisors = (1...E).filter { E % $0 == 0 }
        let groups = g.chance(0.4) ? g.pick(divisors) : 1
        if groups > 1 {
            let perGroup = E / groups, least = (k + perGroup - 1) / perGroup
            router += [("groups", .int(groups)), ("groups_per_token", .int(g.int(least...groups)))]
        }
        if g.chance(0.2) { router.append(("seed", .int(g.int(0...999)))) }
        c.append(("router", .map(router)))

        switch g.int(0...5) {
        case 0: c.append(("workload", .raw("gating")))
        case 1: c.append(("workload", .raw("uniform")))
        case 2: c.append(("workload", .map([("kind", .raw("zipf")), ("exponent", .raw(g.pick(["0.5", "1.1", "2"])))])))
        case 3 where E > 1:  // a strict subset: with every expert hot the fraction means nothing
            let hot = Array((0..<E).shuffled(using: &g).prefix(g.int(1...(E - 1)))).sorted()
            c.append(("workload", .map([("kind", .raw("hot")), ("experts", .ints(hot)),
                                        ("fraction", .raw(g.pick(["0.3", "0.5", "0.9"])))])))
        case 4:
            let extra = g.int(0...2)
            if P > 1 && g.chance(0.4) {
                let names = (0..<P).map { "trace\($0).npy" }
                for r in 0..<P { files[names[r]] = FuzzNpy.valid(rows: perRank[r] + extra, experts: E, &g) }
                c.append(("workload", .map([("kind", .raw("trace")), ("files", .list(names.map(YNode.raw)))])))
            } else {
                files["trace.npy"] = FuzzNpy.valid(rows: perRank.reduce(0, +) + extra, experts: E, &g)
                c.append(("workload", .map([("kind", .raw("trace")), ("file", .raw("trace.npy"))])))
            }
        default: break  // the default, gating
        }

        var capacity: [(String, YNode)] = [("factor", .raw(g.pick(["0.5", "1", "1.25", "2", "none"])))]
        if g.chance(0.3) { capacity.append(("min_capacity", .int(g.int(0...4)))) }
        capacity += [("scope", .raw(g.pick(scopes))), ("priority", .raw(g.pick(priorities)))]
        c.append(("capacity", .map(capacity)))
        c.append(("overflow", .map([("policy", .raw(g.pick(policies))),
                                    ("max_reroutes", .raw(g.pick(["all", "1", "2", "3"]))),
                                    ("reroute_scope", .raw(g.pick(rerouteScopes))),
                                    ("renormalize", .raw(g.pick(["true", "false"])))])))
        c.append(("placement", placement(&g, experts: E, ranks: P)))
        c.append(("precision", .map([("dispatch", .raw(g.pick(precisions))), ("combine", .raw(g.pick(precisions)))])))
        if g.chance(0.2) {
            c.append(("compute", .map([("mode", .raw("modeled")), ("tflops", .raw(g.pick(["1", "100"]))),
                                       ("efficiency", .raw(g.pick(["0.5", "1"])))])))
        }
        if g.chance(0.4) { c.append(("overlap", .map([("chunks", .int(g.int(1...4)))]))) }
        if g.chance(0.5) { c.append(("dispatch", .map([("dedup", .raw(g.pick(dedups)))]))) }
        return (.map(c), files)
    }

    /// contiguous, explicit (every expert at least once, some copies) or either with replicas.
    static func placement(_ g: inout FuzzRNG, experts E: Int, ranks P: Int) -> YNode {
        var lists: [[Int]]
        var pairs: [(String, YNode)]
        if g.chance(0.5) {
            lists = contiguous(experts: E, ranks: P)
            pairs = [("kind", .raw("contiguous"))]
        } else {
            lists = Array(repeating: [], count: P)
            for e in 0..<E { lists[g.int(0...(P - 1))].append(e) }
            for _ in 0..<g.int(0...2) {  // copies, on ranks that do not hold the expert yet
                let e = g.int(0...(E - 1)), r = g.int(0...(P - 1))
                if !lists[r].contains(e) { lists[r].append(e) }
            }
            pairs = [("kind", .raw("explicit")), ("ranks", .list(lists.map(YNode.ints)))]
        }
        if g.chance(0.3) {
            let e = g.int(0...(E - 1))
            let others = (0..<P).filter { !lists[$0].contains(e) }
            if !others.isEmpty {
                pairs.append(("replicas", .list([.map([("expert", .int(e)), ("ranks", .ints([g.pick(others)]))])])))
            }
        }
        return pairs.count == 1 && g.chance(0.5) ? .raw("contiguous") : .map(pairs)
    }

    /// docs/semantics.md's contiguous split: the first E mod P ranks hold one more.
    static func contiguous(experts E: Int, ranks P: Int) -> [[Int]] {
        var lists: [[Int]] = [], next = 0
        for r in 0..<P {
            let n = E / P + (r < E % P ? 1 : 0)
            lists.append(Array(next..<(next + n)))
            next += n
        }
        return lists
    }
}
