import Yams

/// A YAML document reduced to what a config needs: scalars (their text), lists and
/// mappings (keys in file order), each remembering the `--set key=value` override that
/// put it there (nil: the config file), so errors can name the right source.
indirect enum ConfigNode {
    case scalar(String, quoted: Bool, override: String?)
    case list([ConfigNode], override: String?)
    case map([(String, ConfigNode)], override: String?)

    /// The override that put this node there; nil when it came from the file.
    var override: String? {
        switch self {
        case let .scalar(_, _, o), let .list(_, o), let .map(_, o): return o
        }
    }

    /// A short rendering of the value for messages: `'abc'`, `a list`, `a mapping`.
    var shown: String {
        switch self {
        case let .scalar(text, _, _): return "'\(text)'"
        case .list: return "a list"
        case .map: return "a mapping"
        }
    }

    /// The most nodes a document may hold once aliases are expanded (a config with an
    /// entry per expert and per rank at the largest sizes has about 200 000).
    static let maxNodes = 1_000_000

    /// Parses YAML text. Errors are one line naming `file`, the line and the column;
    /// `override` (the whole `key=value` argument) marks every node as coming from it.
    static func parse(_ yaml: String, file: String?, override: String? = nil) throws(ConfigError) -> ConfigNode? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(file: file, keyPath: "", ConfigNode.describe(error))
        } catch {
            throw ConfigError(file: file, keyPath: "", "malformed YAML: \(error)")
        }
        guard let node else { return nil }
        // Aliases share one node, so a small file can stand for a huge tree: count the
        // expanded nodes first (stopping at the bound), then convert.
        var budget = maxNodes
        guard ConfigNode.fits(node, budget: &budget) else {
            throw ConfigError(file: file, keyPath: "",
                              "the document expands to more than \(maxNodes) nodes (through aliases?); a config needs far fewer")
        }
        return try ConfigNode(node, path: "", file: file, override: override)
    }

    /// Whether `node`, aliases expanded, has at most `budget` nodes (decremented).
    private static func fits(_ node: Node, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch node {
        case .scalar, .alias: return true
        case let .sequence(seq):
            for item in seq where !fits(item, budget: &budget) { return false }
            return true
        case let .mapping(map):
            for (key, value) in map where !fits(key, budget: &budget) || !fits(value, budget: &budget) { return false }
            return true
        }
    }

    private init(_ node: Node, path: String, file: String?, override: String?) throws(ConfigError) {
        switch node {
        case let .scalar(s):
            self = .scalar(s.string, quoted: s.style != .plain, override: override)
        case let .sequence(seq):
            var items: [ConfigNode] = []
            for (i, item) in seq.enumerated() {
                items.append(try ConfigNode(item, path: "\(path)[\(i)]", file: file, override: override))
            }
            self = .list(items, override: override)
        case let .mapping(map):
            var pairs: [(String, ConfigNode)] = []
            for (key, value) in map {
                guard case let .scalar(k) = key else {
                    let line = key.mark.map { " at line \($0.line)" } ?? ""
                    let kind: String
                    switch key {
                    case .sequence: kind = "a list"
                    case .mapping: kind = "a mapping"
                    default: kind = "an alias"
                    }
                    throw ConfigError(file: override.map { "--set " + $0 } ?? file, keyPath: path,
                                      "a key must be a name, got \(kind)\(line)")
                }
                let full = path.isEmpty ? k.string : path + "." + k.string
                pairs.append((k.string, try ConfigNode(value, path: full, file: file, override: override)))
            }
            self = .map(pairs, override: override)
        case let .alias(alias):
            self = .scalar("*\(alias.anchor.rawValue)", quoted: false, override: override)
        }
    }

    /// One line for a Yams error: what, where.
    static func describe(_ error: YamlError) -> String {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return "malformed YAML at line \(mark.line), column \(mark.column): \(problem)"
        case let .duplicatedKeysInMapping(duplicates, context):
            return "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) at line \(context.mark.line)"
        case let .reader(problem, offset, _, _):
            return "unreadable YAML\(offset.map { " at byte \($0)" } ?? ""): \(problem)"
        default:
            return "malformed YAML: " + "\(error)".split(separator: "\n").joined(separator: " ")
        }
    }

    /// Keys whose value may be written as one name (`workload: zipf`) or as a mapping
    /// (`workload: {kind: zipf, exponent: 1.1}`), with the mapping key the name stands for.
    static let shorthands = ["workload": "kind", "placement": "kind", "compute": "mode"]

    /// Sets the value at a dotted key path, creating mappings on the way. A name given in
    /// shorthand (`workload: gating`) becomes its mapping (`{kind: gating}`) first; any
    /// other scalar or list met on the way is an error naming the override, so a value
    /// of the file is never dropped without a word (`model: hidden 64`, a missing colon,
    /// stays an error whatever `--set model.ffn=...` adds).
    func setting(_ path: ArraySlice<String>, to value: ConfigNode, under prefix: String = "",
                 override: String) throws(ConfigError) -> ConfigNode {
        guard let key = path.first else { return value }
        var pairs: [(String, ConfigNode)] = []
        // A mapping made here (in place of nothing, or of a shorthand) comes from the
        // override, so errors about it name the `--set`, not the file.
        var origin = value.override
        switch self {
        case let .map(existing, existingOrigin):
            pairs = existing
            origin = existingOrigin
        case let .scalar(text, _, _) where text.isEmpty:
            break
        case .scalar where ConfigNode.shorthands[prefix] != nil:
            pairs = [(ConfigNode.shorthands[prefix]!, self)]
        case let .scalar(text, _, _):
            throw ConfigError(file: "--set " + override, keyPath: prefix,
                              "cannot set \(key) below '\(text.prefix(60))', which is not a mapping"
                                + (prefix.isEmpty ? "; a config is a mapping of keys" : ""))
        case .list:
            throw ConfigError(file: "--set " + override, keyPath: prefix,
                              "cannot set \(key) below a list" + (prefix.isEmpty ? "; a config is a mapping of keys" : ""))
        }
        let below = prefix.isEmpty ? key : prefix + "." + key
        if let i = pairs.firstIndex(where: { $0.0 == key }) {
            pairs[i].1 = try pairs[i].1.setting(path.dropFirst(), to: value, under: below, override: override)
        } else {
            let empty = ConfigNode.map([], override: value.override)
            pairs.append((key, try empty.setting(path.dropFirst(), to: value, under: below, override: override)))
        }
        return .map(pairs, override: origin)
    }
}

/// Edit distance, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// The nearest of `candidates` to `word`, if it is close enough to be a likely typo:
/// the one candidate that starts with `word` (`fp8` -> `fp8_e4m3`), else the one that
/// contains it, else the closest by edit distance.
func nearest(_ word: String, in candidates: [String]) -> String? {
    let lower = word.lowercased()
    if !lower.isEmpty {
        let prefixed = candidates.filter { $0.hasPrefix(lower) }
        if prefixed.count == 1 { return prefixed[0] }
        let containing = candidates.filter { $0.contains(lower) }
        if containing.count == 1 { return containing[0] }
    }
    let scored = candidates.map { ($0, editDistance(lower, $0)) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}
