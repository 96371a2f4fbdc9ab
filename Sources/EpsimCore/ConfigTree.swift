import Yams

/// A YAML document reduced to what a config needs: scalars (their text), lists and
/// mappings (keys in file order), each remembering whether a `--set` override put it
/// there, so errors can name the right source.
indirect enum ConfigNode {
    case scalar(String, quoted: Bool, fromOverride: Bool)
    case list([ConfigNode], fromOverride: Bool)
    case map([(String, ConfigNode)], fromOverride: Bool)

    var fromOverride: Bool {
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

    /// Parses YAML text. Errors are one line naming `file`, the line and the column.
    static func parse(_ yaml: String, file: String?, fromOverride: Bool = false) throws(ConfigError) -> ConfigNode? {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ConfigError(file: file, keyPath: "", ConfigNode.describe(error))
        } catch {
            throw ConfigError(file: file, keyPath: "", "malformed YAML: \(error)")
        }
        return node.map { ConfigNode($0, fromOverride: fromOverride) }
    }

    init(_ node: Node, fromOverride: Bool) {
        switch node {
        case let .scalar(s):
            self = .scalar(s.string, quoted: s.style != .plain, fromOverride: fromOverride)
        case let .sequence(seq):
            self = .list(seq.map { ConfigNode($0, fromOverride: fromOverride) }, fromOverride: fromOverride)
        case let .mapping(map):
            self = .map(map.map { (key, value) in (key.string ?? "\(key)", ConfigNode(value, fromOverride: fromOverride)) },
                        fromOverride: fromOverride)
        case let .alias(alias):
            self = .scalar("*\(alias.anchor.rawValue)", quoted: false, fromOverride: fromOverride)
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

    /// Sets the value at a dotted key path, creating mappings on the way; a scalar or
    /// list met on the way is replaced by a mapping.
    func setting(_ path: ArraySlice<String>, to value: ConfigNode) -> ConfigNode {
        guard let key = path.first else { return value }
        var pairs: [(String, ConfigNode)] = []
        if case let .map(existing, _) = self { pairs = existing }
        if let i = pairs.firstIndex(where: { $0.0 == key }) {
            pairs[i].1 = pairs[i].1.setting(path.dropFirst(), to: value)
        } else {
            let empty = ConfigNode.map([], fromOverride: true)
            pairs.append((key, empty.setting(path.dropFirst(), to: value)))
        }
        return .map(pairs, fromOverride: fromOverride)
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

/// The nearest of `candidates` to `word`, if it is close enough to be a likely typo.
func nearest(_ word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0)) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}
