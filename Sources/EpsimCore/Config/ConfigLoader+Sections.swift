/// The readers of each section of a config file (`model`, `router`, `workload`,
/// `capacity`, `overflow`, `placement`, `compute`): keys checked against the section's
/// list and values against their type; `ConfigValidator` checks the values after.
extension ConfigLoader {
    static func decodeModel(_ node: ConfigNode, _ r: ConfigReader) throws(ConfigError) -> ModelConfig {
        var m = ModelConfig()
        let p = try r.mapping(node, "model", allowed: modelKeys)
        if let n = p["hidden"] { m.hidden = try r.int(n, "model.hidden") }
        if let n = p["ffn"] { m.ffn = try r.int(n, "model.ffn") }
        if let n = p["experts"] { m.experts = try r.int(n, "model.experts") }
        if let n = p["top_k"] { m.topK = try r.int(n, "model.top_k") }
        if let n = p["shared_experts"] { m.sharedExperts = try r.int(n, "model.shared_experts") }
        if let n = p["activation"] { m.activation = try r.choice(n, "model.activation") }
        if let n = p["layers"] { m.layers = try r.int(n, "model.layers") }
        return m
    }

    static func decodeRouter(_ node: ConfigNode, _ r: ConfigReader, base: RouterConfig = RouterConfig()) throws(ConfigError) -> RouterConfig {
        var c = base
        let p = try r.mapping(node, "router", allowed: routerKeys)
        if let n = p["compat"] { c.compat = try r.choice(n, "router.compat") }
        if let n = p["first_choice"] { c.firstChoice = try r.choice(n, "router.first_choice") }
        if let n = p["score"] { c.score = try r.choice(n, "router.score") }
        if let n = p["weights"] { c.weights = try r.choice(n, "router.weights") }
        if let n = p["noise_std"] { c.noiseStd = try r.double(n, "router.noise_std") }
        if let n = p["bias"] {
            let items = try r.list(n, "router.bias", of: "numbers")
            var bias: [Float] = []
            for (i, item) in items.enumerated() {
                bias.append(Float(try r.double(item, "router.bias[\(i)]")))
            }
            c.bias = bias
        }
        if let n = p["groups"] { c.groups = try r.int(n, "router.groups") }
        if let n = p["groups_per_token"] { c.groupsPerToken = try r.int(n, "router.groups_per_token") }
        if let n = p["seed"] { c.seed = try r.seed(n, "router.seed") }
        return c
    }

    static func decodeWorkload(_ node: ConfigNode, _ r: ConfigReader) throws(ConfigError) -> Workload {
        let kinds = ConfigKeys.workloadKinds
        let p: [String: ConfigNode]
        let kindNode: ConfigNode
        if case .scalar = node {
            p = [:]
            kindNode = node
        } else {
            p = try r.mapping(node, "workload", allowed: workloadKeys)
            guard let k = p["kind"] else { throw r.fail("workload.kind", node, "missing; expected one of \(kinds.joined(separator: ", "))") }
            kindNode = k
        }
        let path = p.isEmpty ? "workload" : "workload.kind"
        let kind = try r.scalar(kindNode, path, expected: "one of \(kinds.joined(separator: ", "))")
        func need(_ key: String) throws(ConfigError) -> ConfigNode {
            guard let n = p[key] else { throw r.fail("workload.\(key)", node, "required for workload \(kind)") }
            return n
        }
        /// A path, or a list of paths.
        func paths(_ n: ConfigNode, _ key: String) throws(ConfigError) -> [String] {
            if case .scalar = n { return [try r.scalar(n, key, expected: "a file path")] }
            let items = try r.list(n, key, of: "file paths")
            var files: [String] = []
            for (i, item) in items.enumerated() { files.append(try r.scalar(item, "\(key)[\(i)]", expected: "a file path")) }
            return files
        }
        switch kind {
        case "gating": return .gating
        case "uniform": return .uniform
        case "zipf":
            let n = try need("exponent")
            return .zipf(exponent: try r.double(n, "workload.exponent"))
        case "hot":
            let list = try r.intList(try need("experts"), "workload.experts")
            let fraction = try r.double(try need("fraction"), "workload.fraction")
            return .hot(experts: list, fraction: fraction)
        case "hot_rank":
            let rank = try r.int(try need("rank"), "workload.rank")
            let fraction = try r.double(try need("fraction"), "workload.fraction")
            let sources = try p["sources"].map { n throws(ConfigError) in try r.intList(n, "workload.sources") } ?? []
            return .hotRank(rank: rank, fraction: fraction, sources: sources)
        case "rotating_hotspot":
            let count = try p["count"].map { n throws(ConfigError) in try r.int(n, "workload.count") } ?? 1
            let fraction = try r.double(try need("fraction"), "workload.fraction")
            let period = try r.int(try need("period"), "workload.period")
            return .rotatingHotspot(count: count, fraction: fraction, period: period)
        case "lognormal":
            return .lognormal(sigma: try r.double(try need("sigma"), "workload.sigma"))
        case "trace":
            let dtype: TraceDType = try p["dtype"].map { n throws(ConfigError) in try r.choice(n, "workload.dtype") } ?? .auto
            if let n = p["file"] {
                return .trace(files: [try r.scalar(n, "workload.file", expected: "a file path")], dtype: dtype)
            }
            return .trace(files: try paths(try need("files"), "workload.files"), dtype: dtype)
        case "topk_trace":
            let dtype: TraceDType = try p["dtype"].map { n throws(ConfigError) in try r.choice(n, "workload.dtype") } ?? .auto
            return .topkTrace(ids: try paths(try need("topk_ids"), "workload.topk_ids"),
                              weights: try paths(try need("topk_weights"), "workload.topk_weights"), dtype: dtype)
        default:
            let hint = nearest(kind, in: kinds).map { " (did you mean '\($0)'?)" } ?? ""
            throw r.fail(path, kindNode, "expected one of \(kinds.joined(separator: ", ")), got '\(kind)'\(hint)")
        }
    }

    static func decodeCapacity(_ node: ConfigNode, _ r: ConfigReader, base: CapacityConfig = CapacityConfig()) throws(ConfigError) -> CapacityConfig {
        var c = base
        let p = try r.mapping(node, "capacity", allowed: capacityKeys)
        if let n = p["factor"] {
            if case let .scalar(text, _, _) = n, ["none", "null", "~"].contains(text.lowercased()) {
                c.factor = nil
            } else {
                c.factor = try r.double(n, "capacity.factor")
            }
        }
        if let n = p["min_capacity"] { c.minCapacity = try r.int(n, "capacity.min_capacity") }
        if let n = p["rounding"] { c.rounding = try r.choice(n, "capacity.rounding") }
        if let n = p["value"] {
            if case let .scalar(text, _, _) = n, ["none", "null", "~"].contains(text.lowercased()) {
                c.value = nil
            } else {
                let value = try r.int(n, "capacity.value")
                // Both would set C: refuse rather than let one silently win.
                for other in ["factor", "min_capacity"] where p[other] != nil {
                    throw r.fail("capacity.value", n, "\(value) sets C itself; remove capacity.\(other), which would set it too")
                }
                c.value = value
            }
        }
        if let n = p["scope"] { c.scope = try r.choice(n, "capacity.scope") }
        if let n = p["priority"] { c.priority = try r.choice(n, "capacity.priority") }
        return c
    }

    static func decodeOverflow(_ node: ConfigNode, _ r: ConfigReader, base: OverflowConfig = OverflowConfig()) throws(ConfigError) -> OverflowConfig {
        var c = base
        let p = try r.mapping(node, "overflow", allowed: overflowKeys)
        if let n = p["policy"] { c.policy = try r.choice(n, "overflow.policy") }
        if let n = p["max_reroutes"] {
            if case let .scalar(text, _, _) = n, text == "all" { c.maxReroutes = nil }
            else { c.maxReroutes = try r.int(n, "overflow.max_reroutes") }
        }
        if let n = p["reroute_scope"] { c.rerouteScope = try r.choice(n, "overflow.reroute_scope") }
        if let n = p["renormalize"] { c.renormalize = try r.bool(n, "overflow.renormalize") }
        if let n = p["renormalize_epsilon"] {
            c.renormalizeEpsilon = try r.double(n, "overflow.renormalize_epsilon")
        }
        return c
    }

    /// `routerGroups` is the default of `placement.groups` for kind eplb.
    static func decodePlacement(_ node: ConfigNode, _ r: ConfigReader, routerGroups: Int = 1) throws(ConfigError) -> PlacementConfig {
        var c = PlacementConfig()
        if case let .scalar(text, _, _) = node {
            guard text == "contiguous" else {
                throw r.fail("placement", node, "expected 'contiguous' or a mapping with kind, got '\(text)'")
            }
            return c
        }
        let p = try r.mapping(node, "placement", allowed: placementKeys)
        let kind = try p["kind"].map { n throws(ConfigError) in
            try r.scalar(n, "placement.kind", expected: "one of \(ConfigKeys.placementKinds.joined(separator: ", "))")
        } ?? "contiguous"
        guard ConfigKeys.placementKinds.contains(kind) else {
            let hint = nearest(kind, in: ConfigKeys.placementKinds).map { " (did you mean '\($0)'?)" } ?? ""
            throw r.fail("placement.kind", p["kind"], "expected one of \(ConfigKeys.placementKinds.joined(separator: ", ")), got '\(kind)'\(hint)")
        }
        if kind != "explicit", let n = p["ranks"] { throw r.fail("placement.ranks", n, "only allowed with kind: explicit") }
        if kind != "eplb" {
            for key in ["load", "redundant_experts", "ranks_per_node", "groups"] {
                if let n = p[key] { throw r.fail("placement.\(key)", n, "only allowed with kind: eplb") }
            }
        }
        switch kind {
        case "contiguous":
            break
        case "eplb":
            guard let n = p["load"] else { throw r.fail("placement.load", node, "required for kind: eplb") }
            var e = EPLBPlacement(file: try r.scalar(n, "placement.load", expected: "a file path"), groups: routerGroups)
            if let n = p["redundant_experts"] { e.redundantExperts = try r.int(n, "placement.redundant_experts") }
            if let n = p["ranks_per_node"] { e.ranksPerNode = try r.int(n, "placement.ranks_per_node") }
            if let n = p["groups"] { e.groups = try r.int(n, "placement.groups") }
            c.base = .eplb(e)
        case "explicit":
            guard let n = p["ranks"] else { throw r.fail("placement.ranks", node, "required for kind: explicit") }
            var lists: [[Int]] = []
            for (i, item) in try r.list(n, "placement.ranks", of: "lists of experts").enumerated() {
                lists.append(try r.intList(item, "placement.ranks[\(i)]"))
            }
            c.base = .explicit(lists)
        default:
            let hint = nearest(kind, in: ConfigKeys.placementKinds).map { " (did you mean '\($0)'?)" } ?? ""
            throw r.fail("placement.kind", p["kind"], "expected one of \(ConfigKeys.placementKinds.joined(separator: ", ")), got '\(kind)'\(hint)")
        }
        if let n = p["replicas"] {
            for (i, item) in try r.list(n, "placement.replicas", of: "{expert, ranks} mappings").enumerated() {
                let q = try r.mapping(item, "placement.replicas[\(i)]", allowed: replicaKeys)
                guard let e = q["expert"], let rs = q["ranks"] else {
                    throw r.fail("placement.replicas[\(i)]", item, "needs both expert and ranks")
                }
                let expert = try r.int(e, "placement.replicas[\(i)].expert")
                c.replicas.append(.init(expert: expert, ranks: try r.intList(rs, "placement.replicas[\(i)].ranks")))
            }
        }
        return c
    }

    static func decodeCompute(_ node: ConfigNode, _ r: ConfigReader) throws(ConfigError) -> ComputeMode {
        if case let .scalar(text, _, _) = node {
            switch text {
            case "real": return .real
            case "modeled": return .modeled(tflops: ComputeMode.defaultTFLOPS, efficiency: ComputeMode.defaultEfficiency)
            default: throw r.fail("compute", node, "expected one of \(ConfigKeys.computeModes.joined(separator: ", ")), got '\(text)'")
            }
        }
        let p = try r.mapping(node, "compute", allowed: computeKeys)
        let mode = try p["mode"].map { n throws(ConfigError) in try r.scalar(n, "compute.mode", expected: "real or modeled") } ?? "real"
        switch mode {
        case "real":
            return .real
        case "modeled":
            let tflops = try p["tflops"].map { n throws(ConfigError) in try r.double(n, "compute.tflops") }
                ?? ComputeMode.defaultTFLOPS
            let eff = try p["efficiency"].map { n throws(ConfigError) in try r.double(n, "compute.efficiency") }
                ?? ComputeMode.defaultEfficiency
            return .modeled(tflops: tflops, efficiency: eff)
        default:
            throw r.fail("compute.mode", p["mode"], "expected one of \(ConfigKeys.computeModes.joined(separator: ", ")), got '\(mode)'")
        }
    }
}
