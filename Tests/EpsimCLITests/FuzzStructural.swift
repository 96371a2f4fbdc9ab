import Foundation

/// Mistakes of shape rather than value: unknown and nested keys, documents that are
/// not a mapping or not YAML, placements that miss experts or name wrong ranks, groups
/// that do not divide, bias and token lists of the wrong length, bad trace references,
/// malformed `--set` arguments.
enum FuzzStructural {
    /// (generator, case index, ranks, variant number) -> case; variant n picks the n-th
    /// variant of the family (modulo their count).
    typealias Family = @Sendable (inout FuzzRNG, Int, Int, Int) -> FuzzCase
    /// Cases per family in one pass: at least the variants of the largest family.
    static let variantsPerFamily = 24

    static let families: [(String, Family)] = [
        ("unknown key", unknownKey), ("wrong shape", wrongShape), ("not YAML", notYAML),
        ("placement", placement), ("groups", groups), ("bias length", biasLength),
        ("token list", tokenList), ("hot experts", hotExperts), ("trace reference", traceReference),
        ("--set syntax", setSyntax),
    ]

    static func make(_ g: inout FuzzRNG, _ index: Int, _ P: Int, _ label: String, _ expect: FuzzCase.Expect,
                     _ mentions: [String], _ edit: (inout YNode) -> Void) -> FuzzCase {
        var config = FuzzLayouts.plain(&g, ranks: P)
        edit(&config)
        return FuzzCase(index: index, label: label, config: config, ranks: P, expect: expect, mentions: mentions)
    }

    static func path(_ p: String) -> [String] { p.split(separator: ".").map(String.init) }

    static func unknownKey(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let keys = ["capacty", "modle", "token", "expert", "foo_bar", "Model", "model.hiden", "model.foo",
                    "capacity.factr", "overflow.polcy", "router.nosie_std", "precision.wire", "overlap.chunk",
                    "placement.replica", "compute.flops", "workload.expnent", "model.hidden_size.x",
                    String(repeating: "k", count: 5000)]
        let key = keys[v % keys.count]
        // A plain YAML key longer than 1024 characters is malformed YAML: the file and line then.
        let mentions = key == "model.hidden_size.x" ? ["model.hidden_size"] : [String(key.prefix(40)), FuzzRunner.configName]
        return make(&g, i, P, "unknown key \(key.prefix(20))", .error, mentions) { c in
            if key.hasPrefix("workload.") { c.set(["workload"], FuzzMutations.zipf) }
            if key.hasPrefix("compute.") { c.set(["compute"], FuzzMutations.modeled) }
            if key == "model.hidden_size.x" { c.set(["model", "hidden_size"], .map([("x", .int(1))])); return }
            c.set(path(key), .int(1))
        }
    }

    static func wrongShape(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let cases: [(String, String, FuzzCase.Expect, [String])] = [
            ("tokens", "{a: 1}", .error, ["tokens"]), ("model", "5", .error, ["model"]),
            ("model", "[1, 2]", .error, ["model"]), ("steps", "[1]", .error, ["steps"]),
            ("seed", "{a: 1}", .error, ["seed"]), ("router", "softmax", .error, ["router"]),
            ("capacity", "none", .either, ["capacity"]), ("overflow", "reroute", .either, ["overflow"]),
            ("precision", "bf16", .either, ["precision"]), ("overlap", "2", .either, ["overlap"]),
            ("model", "{hidden: {hidden: {hidden: 1}}}", .error, ["model.hidden"]),
            ("placement", "{kind: {kind: explicit}}", .error, ["placement.kind"]),
            ("workload", "{kind: [zipf], exponent: 1}", .error, ["workload.kind"]),
            ("workload", "{kind: zipf}", .error, ["workload.exponent"]),
            ("workload", "{exponent: 1}", .error, ["workload.kind"]),
            ("workload", "{kind: trace}", .error, ["workload.file"]),
        ]
        let (key, value, expect, mentions) = cases[v % cases.count]
        return make(&g, i, P, "shape \(key): \(value)", expect, mentions) { $0.set([key], .raw(value)) }
    }

    static func notYAML(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        var c = make(&g, i, P, "", .error, [FuzzRunner.configName]) { _ in }
        let body = c.config.document
        let deep = 100_000
        let laughs = "lol: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + (1...9).map { "l\($0): &\(Character(UnicodeScalar(97 + $0)!)) [" + Array(repeating: "*\(Character(UnicodeScalar(96 + $0)!))", count: 10).joined(separator: ", ") + "]\n" }.joined()
        let variants: [(String, [UInt8], FuzzCase.Expect)] = [
            ("unclosed flow mapping", Array((body + "router: {score: softmax\n").utf8), .error),
            ("tab indentation", Array((body + "capacity:\n\tfactor: 1\n").utf8), .error),
            ("unterminated quote", Array((body + "overflow: {policy: 'drop}\n").utf8), .error),
            ("colons", Array(":::\n".utf8), .error),
            ("bad indentation", Array("tokens: 4\n  steps: 1\n".utf8), .error),
            ("invalid UTF-8", Array(body.utf8) + [0xFF, 0xFE, 0xC3, 0x28, 0x0A], .error),
            ("NUL byte", Array(body.utf8) + [0x73, 0x74, 0x00, 0x3A, 0x0A], .error),
            ("undefined alias", Array((body + "router: *nowhere\n").utf8), .error),
            ("list document", Array("[1, 2]\n".utf8), .error),
            ("scalar document", Array("just a string\n".utf8), .error),
            ("number document", Array("42\n".utf8), .error),
            ("billion laughs", Array((body + laughs).utf8), .error),
            ("100000 nested lists", Array((body + "router: {bias: " + String(repeating: "[", count: deep)
                                           + String(repeating: "]", count: deep) + "}\n").utf8), .error),
            ("3 MB of comments", Array((String(repeating: "# padding padding padding padding\n", count: 90_000) + body).utf8), .either),
            ("duplicate key", Array((body + "steps: 1\n").utf8), .either),
            ("two documents", Array((body + "---\n" + body).utf8), .either),
            ("unknown YAML version", Array(("%YAML 9.9\n---\n" + body).utf8), .either),
            ("byte order mark", [0xEF, 0xBB, 0xBF] + Array(body.utf8), .either),
        ]
        let (label, bytes, expect) = variants[v % variants.count]
        c.label = "yaml: \(label)"
        c.rawDocument = bytes
        c.expect = expect
        c.mentions = [FuzzRunner.configName]
        if label == "duplicate key" { c.mentions.append("steps") }
        if label == "billion laughs" { c.mentions.append("lol") }
        return c
    }

    static func placement(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let E = 4
        let good = FuzzLayouts.contiguous(experts: E, ranks: P)
        var missing = good
        let r = missing.firstIndex { !$0.isEmpty }!
        missing[r].removeLast()
        let holder = good.firstIndex { $0.contains(0) }!
        let variants: [(String, YNode, FuzzCase.Expect, [String])] = [
            ("explicit missing an expert", explicit(missing), .error, ["placement"]),
            ("explicit copies on other ranks", explicit(good.enumerated().map { $0.offset == 0 ? Array(Set($0.element + [0, E - 1])).sorted() : $0.element + [0] }), .run, []),
            ("explicit repeat on one rank", explicit(good.enumerated().map { $0.offset == 0 ? $0.element + $0.element : $0.element }), .either, ["placement.ranks"]),
            ("explicit lists one rank more", explicit(good + [[0]]), .error, ["placement.ranks", "ranks"]),
            ("explicit lists one rank less", explicit(Array(good.dropLast())), .error, ["placement.ranks", "ranks"]),
            ("explicit expert out of range", explicit(good.enumerated().map { $0.offset == 0 ? $0.element + [E] : $0.element }), .error, ["placement.ranks"]),
            ("explicit negative expert", explicit(good.enumerated().map { $0.offset == 0 ? $0.element + [-1] : $0.element }), .error, ["placement.ranks"]),
            ("explicit non-integer entry", .map([("kind", .raw("explicit")), ("ranks", .list([.list([.raw("1.5")])] + good.dropFirst().map(YNode.ints)))]), .error, ["placement.ranks"]),
            ("explicit ranks not a list", .map([("kind", .raw("explicit")), ("ranks", .raw("4"))]), .error, ["placement.ranks"]),
            ("explicit without ranks", .map([("kind", .raw("explicit"))]), .error, ["placement.ranks", "placement"]),
            ("contiguous with ranks", .map([("kind", .raw("contiguous")), ("ranks", .list(good.map(YNode.ints)))]), .error, ["placement.ranks"]),
            ("replica of expert out of range", replicas(.map([("expert", .int(E)), ("ranks", .ints([0]))])), .error, ["placement.replicas"]),
            ("replica on rank out of range", replicas(.map([("expert", .int(0)), ("ranks", .ints([P]))])), .error, ["placement.replicas"]),
            ("replica on rank -1", replicas(.map([("expert", .int(0)), ("ranks", .ints([-1]))])), .error, ["placement.replicas"]),
            ("replica without ranks", replicas(.map([("expert", .int(0))])), .error, ["placement.replicas"]),
            ("replica with unknown key", replicas(.map([("expert", .int(0)), ("ranks", .ints([0])), ("copies", .int(2))])), .error, ["placement.replicas"]),
            ("replica on every rank", replicas(.map([("expert", .int(E - 1)), ("ranks", .ints(Array(0..<P)))])), .either, ["placement.replicas"]),
            ("replica on its own rank", replicas(.map([("expert", .int(0)), ("ranks", .ints([holder]))])), .either, ["placement.replicas"]),
            ("replica listed twice", replicas(.map([("expert", .int(1)), ("ranks", .ints([P - 1, P - 1]))])), .either, ["placement.replicas"]),
            ("replica with no ranks", replicas(.map([("expert", .int(1)), ("ranks", .list([]))])), .either, ["placement.replicas"]),
            ("placement kind typo", .map([("kind", .raw("explict"))]), .error, ["placement.kind"]),
        ]
        let (label, node, expect, mentions) = variants[v % variants.count]
        var c = make(&g, i, P, "placement: \(label)", expect, mentions) { $0.set(["placement"], node) }
        c.routingOut = expect != .error
        return c
    }

    static func explicit(_ lists: [[Int]]) -> YNode { .map([("kind", .raw("explicit")), ("ranks", .list(lists.map(YNode.ints)))]) }
    static func replicas(_ item: YNode) -> YNode { .map([("kind", .raw("contiguous")), ("replicas", .list([item]))]) }

    static func groups(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let variants: [(String, Int, Int?, Int?, FuzzCase.Expect)] = [  // label, E, groups, per token
            ("3 groups of 4 experts", 4, 3, nil, .error), ("4 groups of 6 experts", 6, 4, 1, .error),
            ("groups 0", 4, 0, nil, .error), ("groups_per_token above groups", 4, 2, 3, .error),
            ("groups_per_token 0", 4, 2, 0, .error), ("groups hold fewer than top_k", 4, 4, 1, .error),
            ("groups_per_token without groups", 4, nil, 2, .error), ("4 groups, 2 per token", 4, 4, 2, .run),
            ("2 groups of 6, 1 per token", 6, 2, 1, .run), ("groups equal experts", 4, 4, 4, .run),
        ]
        let (label, E, G, perToken, expect) = variants[v % variants.count]
        var c = make(&g, i, P, "groups: \(label)", expect, ["router.groups", "router.groups_per_token"]) { c in
            c.set(["model", "experts"], .int(E))
            if let G { c.set(["router", "groups"], .int(G)) }
            if let perToken { c.set(["router", "groups_per_token"], .int(perToken)) }
        }
        c.routingOut = expect == .run
        return c
    }

    static func biasLength(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let variants: [(String, String, FuzzCase.Expect)] = [
            ("3 of 4", "[0.1, 0.2, 0.3]", .error), ("5 of 4", "[0.1, 0.2, 0.3, 0.4, 0.5]", .error),
            ("empty", "[]", .either), ("a number", "0.5", .error), ("strings", "[a, b, c, d]", .error),
            ("nested", "[[0.1], 0.2, 0.3, 0.4]", .error), ("4 of 4", "[1, -1, 0.5, 0]", .run),
            ("4 of 4, huge", "[1e30, -1e30, 0, 0]", .either),
        ]
        let (label, value, expect) = variants[v % variants.count]
        return make(&g, i, P, "bias: \(label)", expect, ["router.bias"]) { $0.set(["router", "bias"], .raw(value)) }
    }

    static func tokenList(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let variants: [(String, YNode, FuzzCase.Expect)] = [
            ("one rank more", .ints(Array(repeating: 2, count: P + 1)), .error),
            ("one rank less", .ints(Array(repeating: 2, count: P - 1)), .error),
            ("negative entry", .ints([-1] + Array(repeating: 2, count: P - 1)), .error),
            ("all zero", .ints(Array(repeating: 0, count: P)), .run),
            ("zeros and ones", .ints((0..<P).map { $0 % 2 }), .run),
            ("nested", .list([.ints([1])] + Array(repeating: YNode.int(1), count: P - 1)), .error),
        ]
        let (label, node, expect) = variants[v % variants.count]
        var c = make(&g, i, P, "tokens: \(label)", expect, ["tokens"]) { $0.set(["tokens"], node) }
        c.routingOut = true
        return c
    }

    static func hotExperts(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let variants: [(String, String, String?, FuzzCase.Expect, String)] = [
            ("repeated", "[0, 0]", "0.5", .error, "workload.experts"), ("out of range", "[4]", "0.5", .error, "workload.experts"),
            ("negative", "[-1]", "0.5", .error, "workload.experts"), ("empty", "[]", "0.5", .either, "workload.experts"),
            ("fraction 0", "[1]", "0", .error, "workload.fraction"), ("fraction 1", "[1]", "1", .error, "workload.fraction"),
            ("no fraction", "[1]", nil, .error, "workload.fraction"), ("all experts", "[0, 1, 2, 3]", "0.5", .either, "workload"),
            ("three of four", "[0, 1, 3]", "0.9", .run, ""),
        ]
        let (label, experts, fraction, expect, key) = variants[v % variants.count]
        var pairs: [(String, YNode)] = [("kind", .raw("hot")), ("experts", .raw(experts))]
        if let fraction { pairs.append(("fraction", .raw(fraction))) }
        return make(&g, i, P, "hot: \(label)", expect, [key]) { $0.set(["workload"], .map(pairs)) }
    }

    static func traceReference(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let variants: [(String, YNode, FuzzCase.Expect, [String])] = [
            ("missing file", .map([("kind", .raw("trace")), ("file", .raw("nope.npy"))]), .error, ["nope.npy"]),
            ("empty path", .map([("kind", .raw("trace")), ("file", .raw("''"))]), .error, ["workload.file"]),
            ("directory", .map([("kind", .raw("trace")), ("file", .raw("."))]), .error, ["workload.file"]),
            ("file not a string", .map([("kind", .raw("trace")), ("file", .raw("[a.npy]"))]), .error, ["workload.file"]),
            ("files of wrong count", .map([("kind", .raw("trace")), ("files", .list(Array(repeating: .raw("nope.npy"), count: P == 2 ? 3 : 2)))]),
             .error, ["workload.file", "nope.npy"]),
            ("files empty", .map([("kind", .raw("trace")), ("files", .list([]))]), .error, ["workload.file"]),
        ]
        let (label, node, expect, mentions) = variants[v % variants.count]
        return make(&g, i, P, "trace: \(label)", expect, mentions) { $0.set(["workload"], node) }
    }

    static func setSyntax(_ g: inout FuzzRNG, _ i: Int, _ P: Int, _ v: Int) -> FuzzCase {
        let variants: [(String, FuzzCase.Expect)] = [
            ("=3", .error), ("model..hidden=3", .error), (".x=1", .error), ("model.hidden", .error),
            ("model.hidden=[1", .error), ("model.hidden={", .error), ("model.hidden.x=1", .error),
            ("model=~", .either), ("model.hidden=", .error), ("tokens=[1, 2", .error),
        ]
        let (arg, expect) = variants[v % variants.count]
        var c = make(&g, i, P, "--set \(arg)", expect, ["--set"]) { _ in }
        c.overrides = [arg]
        c.viaSet = expect == .error
        return c
    }
}
