extension ConfigLoader {
    /// `ConfigValidator`'s checks, with those that need the world size (`ranks`, per-rank
    /// token lists, placements, trace file counts), the trace files' headers and the
    /// memory estimate of the ranks this process holds (`processRanks`; nil: every
    /// rank, as with `--emulate`; one rank per process under mpirun), against `memory`
    /// (nil: what the system has now). Runs on every rank before anything is allocated.
    /// Errors name the value's origin: the file, or the `--set key=value` that gave it.
    public static func validate(_ c: SimConfig, worldSize: Int, processRanks: Range<Int>? = nil,
                                ranksInProcess: Int? = nil,
                                verify: Bool = false, memory: MemoryLimit? = nil) throws(ConfigError) {
        _ = try estimate(c, worldSize: worldSize, processRanks: processRanks, ranksInProcess: ranksInProcess,
                         verify: verify, memory: memory)
    }

    /// `validate`, returning the memory estimate it checked (for `epsim validate`).
    ///
    /// `processRanks` are the ranks whose memory this machine holds (all of them for
    /// emulated ranks; the node's under MPI); `ranksInProcess` how many of them share
    /// this process's address space (RLIMIT_AS is per process), by default all.
    public static func estimate(_ c: SimConfig, worldSize: Int, processRanks: Range<Int>? = nil,
                                ranksInProcess: Int? = nil,
                                verify: Bool = false, memory: MemoryLimit? = nil) throws(ConfigError) -> MemoryEstimate {
        try ConfigValidator.check(c, worldSize: worldSize)
        let layout = try ExpertLayout(c.placement, experts: c.model.experts, ranks: worldSize)
        let ranks = processRanks ?? 0..<worldSize
        precondition(ranks.lowerBound >= 0 && ranks.upperBound <= worldSize, "ranks \(ranks) of \(worldSize)")
        let limit = memory ?? .current()
        try checkTraceHeaders(c, worldSize: worldSize, processRanks: ranks, memory: limit)
        let estimate = MemoryEstimate(c, layout: layout, processRanks: ranks, verify: verify)
        try estimate.check(c, against: limit, ranksInProcess: ranksInProcess ?? ranks.count)
        return estimate
    }

    /// The trace files the process's ranks read (`ConfigValidator` checked their count):
    /// headers only (shape, type, size against the file and memory), so a bad file is
    /// one line before any data is read.
    static func checkTraceHeaders(_ c: SimConfig, worldSize: Int, processRanks: Range<Int>,
                                  memory: MemoryLimit) throws(ConfigError) {
        guard case let .trace(files) = c.workload else { return }
        let origin = c.origin(of: "workload")
        for file in Set(files.count == 1 ? files : processRanks.map { files[$0] }) {
            let shape = try NpyReader.shape(path: file, configFile: origin, memoryLimit: memory.bytes)
            try ConfigValidator.checkTraceColumns(shape.cols, file: file, experts: c.model.experts, origin: origin)
        }
    }

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
