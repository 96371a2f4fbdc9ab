extension ConfigLoader {
    /// Checks that need the world size (`ranks`, per-rank token lists, placements) and
    /// the memory estimate of the ranks this process holds (`processRanks`; nil: every
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
        if let expected = c.ranks, expected != worldSize {
            throw ConfigError(file: c.origin(of: "ranks"), keyPath: "ranks",
                              "config expects \(expected) ranks, but the run has \(worldSize); run it with "
                                + "--emulate \(expected) or mpirun -n \(expected), or change it with --set ranks=\(worldSize)")
        }
        if case let .perRank(list) = c.tokens, list.count != worldSize {
            throw ConfigError(file: c.origin(of: "tokens"), keyPath: "tokens",
                              "lists \(list.count) ranks, but the run has \(worldSize); give one count per rank "
                                + "or run it with --emulate \(list.count) or mpirun -n \(list.count)")
        }
        let layout: ExpertLayout
        do {
            layout = try ExpertLayout(c.placement, experts: c.model.experts, ranks: worldSize)
        } catch {
            var e = error
            e.file = c.origin(of: e.keyPath)
            throw e
        }
        let ranks = processRanks ?? 0..<worldSize
        precondition(ranks.lowerBound >= 0 && ranks.upperBound <= worldSize, "ranks \(ranks) of \(worldSize)")
        let limit = memory ?? .current()
        try checkTraceHeaders(c, worldSize: worldSize, processRanks: ranks, memory: limit)
        let estimate = MemoryEstimate(c, layout: layout, processRanks: ranks, verify: verify)
        try estimate.check(c, against: limit, ranksInProcess: ranksInProcess ?? ranks.count)
        return estimate
    }

    /// The trace files the process's ranks read: headers only (shape, type, size against
    /// the file and memory), so a bad file is one line before any data is read.
    static func checkTraceHeaders(_ c: SimConfig, worldSize: Int, processRanks: Range<Int>,
                                  memory: MemoryLimit) throws(ConfigError) {
        guard case let .trace(files) = c.workload else { return }
        let origin = c.origin(of: "workload")
        guard files.count == 1 || files.count == worldSize else {
            throw ConfigError(file: origin, keyPath: NpyReader.keyPath,
                              "expected 1 file or one per rank (\(worldSize)), got \(files.count) files")
        }
        for file in Set(files.count == 1 ? files : processRanks.map { files[$0] }) {
            let shape = try NpyReader.shape(path: file, configFile: origin, memoryLimit: memory.bytes)
            guard shape.cols == c.model.experts else {
                throw ConfigError(file: origin, keyPath: NpyReader.keyPath,
                                  "\(file): expected \(c.model.experts) columns (model.experts), got \(shape.cols)")
            }
        }
    }

    /// Every key with its resolved value, nested as in the file (YAML key names).
    public static func resolvedJSON(_ c: SimConfig) -> JSONValue {
        let m = c.model, rt = c.router, cap = c.capacity, o = c.overflow
        var workload: [(String, JSONValue)] = [("kind", .string(c.workload.name))]
        switch c.workload {
        case .gating, .uniform: break
        case let .zipf(s): workload.append(("exponent", .double(s)))
        case let .hot(experts, fraction):
            workload += [("experts", .array(experts.map { .int($0) })), ("fraction", .double(fraction))]
        case let .trace(files): workload.append(("files", .array(files.map { .string($0) })))
        }
        var placement: [(String, JSONValue)]
        switch c.placement.base {
        case .contiguous: placement = [("kind", .string("contiguous"))]
        case let .explicit(lists):
            placement = [("kind", .string("explicit")),
                         ("ranks", .array(lists.map { .array($0.map { .int($0) }) }))]
        }
        placement.append(("replicas", .array(c.placement.replicas.map {
            .object([("expert", .int($0.expert)), ("ranks", .array($0.ranks.map { .int($0) }))])
        })))
        let compute: JSONValue
        switch c.compute {
        case .real: compute = .object([("mode", .string("real"))])
        case let .modeled(tflops, efficiency):
            compute = .object([("mode", .string("modeled")), ("tflops", .double(tflops)), ("efficiency", .double(efficiency))])
        }
        let tokens: JSONValue
        switch c.tokens {
        case let .uniform(n): tokens = .int(n)
        case let .perRank(list): tokens = .array(list.map { .int($0) })
        }
        return .object([
            ("model", .object([
                ("hidden", .int(m.hidden)), ("ffn", .int(m.ffn)), ("experts", .int(m.experts)),
                ("top_k", .int(m.topK)), ("shared_experts", .int(m.sharedExperts)),
                ("activation", .string(m.activation.rawValue)), ("layers", .int(m.layers)),
            ])),
            ("tokens", tokens),
            ("router", .object([
                ("score", .string(rt.score.rawValue)), ("weights", .string(rt.weights.rawValue)),
                ("noise_std", .double(rt.noiseStd)), ("bias", .array(rt.bias.map { .double(Double($0)) })),
                ("groups", .int(rt.groups)), ("groups_per_token", .int(rt.groupsPerToken)),
                ("seed", rt.seed.map { .string(String($0)) } ?? .null),
            ])),
            ("workload", .object(workload)),
            ("capacity", .object([
                ("factor", cap.factor.map { .double($0) } ?? .string("none")),
                ("min_capacity", .int(cap.minCapacity)), ("scope", .string(cap.scope.rawValue)),
                ("priority", .string(cap.priority.rawValue)),
            ])),
            ("overflow", .object([
                ("policy", .string(o.policy.rawValue)),
                ("max_reroutes", o.maxReroutes.map { .int($0) } ?? .string("all")),
                ("reroute_scope", .string(o.rerouteScope.rawValue)), ("renormalize", .bool(o.renormalize)),
            ])),
            ("placement", .object(placement)),
            ("precision", .object([("dispatch", .string(c.precision.dispatch.rawValue)),
                                   ("combine", .string(c.precision.combine.rawValue))])),
            ("compute", compute),
            ("overlap", .object([("chunks", .int(c.overlapChunks))])),
            ("steps", .int(c.steps)),
            ("warmup_steps", .int(c.warmupSteps)),
            ("seed", .string(String(c.seed))),
            ("ranks", c.ranks.map { .int($0) } ?? .null),
        ])
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
        func flow(_ v: JSONValue) -> String {
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
        emit(resolvedJSON(c), indent: 0)
        return out
    }
}
