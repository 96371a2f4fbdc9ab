/// Typed, range-checked reads from a `ConfigNode`, with one-line errors naming the file
/// (or `--set`), the key path and the offending value.
struct ConfigReader {
    let file: String?

    func fail(_ path: String, _ node: ConfigNode?, _ message: String) -> ConfigError {
        ConfigError(file: node?.fromOverride == true ? "--set" : file, keyPath: path, message)
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
                let hint = nearest(key, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                throw fail(full, value, "unknown key '\(key)'\(hint)")
            }
            result[key] = value
        }
        return result
    }

    func scalar(_ node: ConfigNode, _ path: String, expected: String) throws(ConfigError) -> String {
        guard case let .scalar(text, _, _) = node else {
            throw fail(path, node, "expected \(expected), got \(node.shown)")
        }
        return text
    }

    func int(_ node: ConfigNode, _ path: String, min lower: Int) throws(ConfigError) -> Int {
        let expected = "an integer >= \(lower)"
        let text = try scalar(node, path, expected: expected)
        guard let value = Int(text.replacingUnderscores) else {
            throw fail(path, node, "expected an integer, got '\(text)'")
        }
        guard value >= lower else { throw fail(path, node, "expected \(expected), got \(value)") }
        return value
    }

    func seed(_ node: ConfigNode, _ path: String) throws(ConfigError) -> UInt64 {
        let text = try scalar(node, path, expected: "a non-negative integer")
        guard let value = UInt64(text.replacingUnderscores) else {
            throw fail(path, node, "expected a non-negative integer, got '\(text)'")
        }
        return value
    }

    /// A finite number satisfying `valid`, described by `range` in messages.
    func double(_ node: ConfigNode, _ path: String, range: String, _ valid: (Double) -> Bool) throws(ConfigError) -> Double {
        let text = try scalar(node, path, expected: "a number \(range)")
        guard let value = Double(text.replacingUnderscores), value.isFinite else {
            throw fail(path, node, "expected a number, got '\(text)'")
        }
        guard valid(value) else { throw fail(path, node, "expected a number \(range), got \(text)") }
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

    func intList(_ node: ConfigNode, _ path: String, min lower: Int) throws(ConfigError) -> [Int] {
        var result: [Int] = []
        for (i, item) in try list(node, path, of: "integers").enumerated() {
            result.append(try int(item, "\(path)[\(i)]", min: lower))
        }
        return result
    }
}

extension String {
    /// YAML allows 1_000 style separators in integers.
    fileprivate var replacingUnderscores: String { filter { $0 != "_" } }
}
