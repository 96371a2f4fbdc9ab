/// Typed, range-checked reads from a `ConfigNode`, with one-line errors naming the file
/// (or the `--set key=value` override), the key path and the offending value. Numbers
/// are checked against their key's entry in `ConfigRanges.table`.
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

    /// An integer in the range `ConfigRanges` gives the key at `path`.
    func int(_ node: ConfigNode, _ path: String) throws(ConfigError) -> Int {
        let range = ConfigRanges.range(for: path)
        guard case let .integer(bounds) = range.bounds else { preconditionFailure("\(path) is not an integer key") }
        let expected = "an integer in \(range.text)"
        let text = try scalar(node, path, expected: expected)
        let digits = text.replacingUnderscores
        guard let value = Int(digits) else {
            // Too many digits for an Int is out of range, not a wrong type.
            let integral = !digits.isEmpty && digits.drop { $0 == "-" || $0 == "+" }.allSatisfy(\.isNumber)
            throw fail(path, node, integral ? "expected \(expected), got \(text)" : "expected an integer, got '\(text)'")
        }
        guard bounds.contains(value) else { throw fail(path, node, "expected \(expected), got \(value)") }
        return value
    }

    func seed(_ node: ConfigNode, _ path: String) throws(ConfigError) -> UInt64 {
        let text = try scalar(node, path, expected: "a non-negative integer")
        guard let value = UInt64(text.replacingUnderscores) else {
            throw fail(path, node, "expected a non-negative integer, got '\(text)'")
        }
        return value
    }

    /// A finite number in the range `ConfigRanges` gives the key at `path`.
    func double(_ node: ConfigNode, _ path: String) throws(ConfigError) -> Double {
        let range = ConfigRanges.range(for: path)
        let text = try scalar(node, path, expected: "a number in \(range.text)")
        guard let value = Double(text.replacingUnderscores) else {
            throw fail(path, node, "expected a number, got '\(text)'")
        }
        guard range.contains(value) else { throw fail(path, node, "expected a number in \(range.text), got \(text)") }
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
