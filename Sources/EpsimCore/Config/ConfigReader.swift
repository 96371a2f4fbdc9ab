/// Typed reads from a `ConfigNode`, with one-line errors naming the file (or the
/// `--set key=value` override), the key path and the offending text. Only the type is
/// checked here: `ConfigValidator` checks the values once the config is read, against
/// `ConfigKeys.table`, whose rows also give the words of these messages.
struct ConfigReader {
    let file: String?

    func fail(_ path: String, _ node: ConfigNode?, _ message: String) -> ConfigError {
        ConfigError(file: node?.override.map { "--set " + $0 } ?? file, keyPath: path, message)
    }

    /// The pairs of a mapping, after checking every key is one of `allowed`.
    func mapping(_ node: ConfigNode, _ path: String, allowed: [String]) throws(ConfigError) -> [String: ConfigNode] {
        guard case let .map(pairs, _) = node else {
            throw fail(path, node, "expected a mapping, got \(node.shown)")
        }
        var result: [String: ConfigNode] = [:]
        for (key, value) in pairs {
            let full = path.isEmpty ? key : path + "." + key
            guard allowed.contains(key) else {
                let hint = (nearest(key, in: allowed) ?? Self.synonym(key, in: allowed))
                    .map { " (did you mean '\($0)'?)" } ?? ""
                throw fail(full, value, "unknown key '\(key)'\(hint)")
            }
            result[key] = value
        }
        return result
    }

    /// `workload` and `placement` name their variant `kind`, `compute` names it `mode`:
    /// the one a section takes, when `key` is the other.
    static func synonym(_ key: String, in allowed: [String]) -> String? {
        let other = ["kind": "mode", "mode": "kind"][key]
        return other.flatMap { allowed.contains($0) ? $0 : nil }
    }

    func scalar(_ node: ConfigNode, _ path: String, expected: String) throws(ConfigError) -> String {
        guard case let .scalar(text, _, _) = node else {
            throw fail(path, node, "expected \(expected), got \(node.shown)")
        }
        return text
    }

    /// The row of the key at `path`; reading a key the table lacks is a programming error.
    private func key(_ path: String) -> ConfigKey {
        guard let key = ConfigKeys.key(for: path) else { preconditionFailure("no row for config key \(path)") }
        return key
    }

    /// An integer; a number of more digits than an Int holds is out of the key's range.
    func int(_ node: ConfigNode, _ path: String) throws(ConfigError) -> Int {
        let key = key(path)
        guard case .integer = key.values else { preconditionFailure("\(path) is not an integer key") }
        let text = try scalar(node, path, expected: key.expected)
        let digits = text.replacingUnderscores
        guard let value = Int(digits) else {
            let integral = !digits.isEmpty && digits.drop { $0 == "-" || $0 == "+" }.allSatisfy(\.isNumber)
            throw fail(path, node, integral ? key.outOfRange(text) : "expected an integer, got '\(text)'")
        }
        return value
    }

    func seed(_ node: ConfigNode, _ path: String) throws(ConfigError) -> UInt64 {
        let text = try scalar(node, path, expected: "a non-negative integer")
        guard let value = UInt64(text.replacingUnderscores) else {
            throw fail(path, node, "expected a non-negative integer, got '\(text)'")
        }
        return value
    }

    /// A number (finite or not: the validator says which are in range).
    func double(_ node: ConfigNode, _ path: String) throws(ConfigError) -> Double {
        let key = key(path)
        let text = try scalar(node, path, expected: key.expected)
        guard let value = Double(text.replacingUnderscores) else {
            let words = key.words.map { " or '\($0)'" }.joined()
            throw fail(path, node, "expected a number\(words), got '\(text)'")
        }
        return value
    }

    func bool(_ node: ConfigNode, _ path: String) throws(ConfigError) -> Bool {
        let text = try scalar(node, path, expected: "true or false")
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(path, node, "expected true or false, got '\(text)'")
        }
    }

    func choice<E: RawRepresentable & CaseIterable>(_ node: ConfigNode, _ path: String) throws(ConfigError) -> E
    where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        let text = try scalar(node, path, expected: "one of \(names.joined(separator: ", "))")
        guard let value = E(rawValue: text) else {
            let hint = nearest(text, in: names).map { " (did you mean '\($0)'?)" } ?? ""
            throw fail(path, node, "expected one of \(names.joined(separator: ", ")), got '\(text)'\(hint)")
        }
        return value
    }

    func list(_ node: ConfigNode, _ path: String, of what: String) throws(ConfigError) -> [ConfigNode] {
        guard case let .list(items, _) = node else {
            throw fail(path, node, "expected a list of \(what), got \(node.shown)")
        }
        return items
    }

    func intList(_ node: ConfigNode, _ path: String) throws(ConfigError) -> [Int] {
        var result: [Int] = []
        for (i, item) in try list(node, path, of: "integers").enumerated() {
            result.append(try int(item, "\(path)[\(i)]"))
        }
        return result
    }
}

extension String {
    /// YAML allows 1_000 style separators in integers.
    fileprivate var replacingUnderscores: String { filter { $0 != "_" } }
}
