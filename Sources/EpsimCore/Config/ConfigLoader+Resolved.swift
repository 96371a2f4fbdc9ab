extension ConfigLoader {
    /// Every key with its resolved value, nested as in the file (YAML key names), in the
    /// order of `ConfigKeys.table`.
    public static func resolvedJSON(_ c: SimConfig) -> JSONValue {
        var root: [(String, JSONValue)] = []
        for key in ConfigKeys.table {
            guard let value = key.value?(c) else { continue }
            insert(value, at: key.path.split(separator: ".").map(String.init)[...], into: &root)
        }
        return .object(root)
    }

    private static func insert(_ value: JSONValue, at path: ArraySlice<String>, into pairs: inout [(String, JSONValue)]) {
        guard let name = path.first else { return }
        guard path.count > 1 else { pairs.append((name, value)); return }
        var inner: [(String, JSONValue)] = []
        let i = pairs.firstIndex { $0.0 == name }
        if let i, case let .object(existing) = pairs[i].1 { inner = existing }
        insert(value, at: path.dropFirst(), into: &inner)
        if let i { pairs[i].1 = .object(inner) } else { pairs.append((name, .object(inner))) }
    }

    /// The resolved config as YAML (block style), for `epsim validate`.
    public static func resolvedYAML(_ c: SimConfig) -> String {
        var out = ""
        func emit(_ value: JSONValue, indent: Int) {
            guard case let .object(pairs) = value else { return }
            for (key, v) in pairs {
                let pad = String(repeating: "  ", count: indent)
                switch v {
                case .object: out += "\(pad)\(key):\n"; emit(v, indent: indent + 1)
                default: out += "\(pad)\(key): \(flow(v))\n"
                }
            }
        }
        emit(resolvedJSON(c), indent: 0)
        return out
    }

    /// A value in YAML flow style: `1.25`, `none`, `[0, 3]`, `{expert: 0, ranks: [1]}`.
    static func flow(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .double(d): return JSONValue.double(d).serialized(indent: 0)
        case let .string(s): return s
        case let .array(items): return "[" + items.map(flow).joined(separator: ", ") + "]"
        case let .object(pairs): return "{" + pairs.map { "\($0.0): \(flow($0.1))" }.joined(separator: ", ") + "}"
        }
    }
}
