/// Every check of a config's values, in one place: each key's value against its row of
/// `ConfigKeys.table` (range or names), the rules between keys the rows name, and the
/// checks that need the world size. The loader runs it on what it read; `RouterSpec`,
/// `ConfigLoader.validate` and `ExpertLayout` run it (or its placement part) on the
/// configs they are given, so a config built in code gets the same messages.
///
/// Messages are one line: where the value came from (the file, or the `--set` that gave
/// it or, for a rule between keys, any of them), the key path, what was expected and
/// the value.
public enum ConfigValidator {
    /// Checks every key of `c`, and with `worldSize` the checks that need it: `ranks`,
    /// per-rank token lists, placements, trace file counts.
    public static func check(_ c: SimConfig, worldSize: Int? = nil) throws(ConfigError) {
        for key in ConfigKeys.table {
            guard let value = key.value?(c) else { continue }
            try checkValues(value, at: key.path, c)
            try key.rule?(c)
        }
        if let worldSize { try checkWorld(c, size: worldSize) }
    }

    /// Every scalar of `value` (entries of lists, values of mappings) against its key.
    private static func checkValues(_ value: JSONValue, at path: String, _ c: SimConfig) throws(ConfigError) {
        switch value {
        case let .array(items):
            for (i, item) in items.enumerated() { try checkValues(item, at: "\(path)[\(i)]", c) }
        case let .object(pairs):
            for (name, item) in pairs { try checkValues(item, at: path + "." + name, c) }
        default:
            guard let key = ConfigKeys.key(for: path) else { preconditionFailure("no row for config key \(path)") }
            guard key.accepts(value) else {
                throw ConfigError(file: c.origin(of: path), keyPath: path, key.outOfRange(ConfigKey.shown(value)))
            }
        }
    }

    /// A rule at `path` broken: the error names the first of `path` and `others` that an
    /// override set, else the file.
    static func fail(_ c: SimConfig, _ path: String, also others: [String] = [], _ message: String) -> ConfigError {
        let origin = ([path] + others).lazy.compactMap { c.origin(of: $0) }.first { $0 != c.sourcePath }
        return ConfigError(file: origin ?? c.sourcePath, keyPath: path, message)
    }

    // MARK: rules between keys (named by the table's conditions)

    static func topK(_ c: SimConfig) throws(ConfigError) {
        let m = c.model
        guard m.topK <= m.experts else {
            throw fail(c, "model.top_k", also: ["model.experts"], "\(m.topK) exceeds model.experts (\(m.experts))")
        }
    }

    /// tokens × top_k fits the Int32 assignment indices of every rank.
    static func assignments(_ c: SimConfig) throws(ConfigError) {
        let limit = Int(Int32.max)
        let largest: Int
        switch c.tokens {
        case let .uniform(n): largest = n
        case let .perRank(list): largest = list.max() ?? 0
        }
        let (product, overflow) = largest.multipliedReportingOverflow(by: c.model.topK)
        if overflow || product > limit {
            throw fail(c, "tokens", also: ["model.top_k"],
                       "\(largest) tokens × model.top_k \(c.model.topK) = \(overflow ? "more than 2^63" : String(product)) assignments on one rank; at most \(limit) are supported")
        }
    }

    static func bias(_ c: SimConfig) throws(ConfigError) {
        let n = c.router.bias.count, E = c.model.experts
        guard n == 0 || n == E else {
            throw fail(c, "router.bias", also: ["model.experts"], "expected \(E) entries (model.experts) or none, got \(n)")
        }
    }

    static func groups(_ c: SimConfig) throws(ConfigError) {
        let G = c.router.groups, E = c.model.experts
        guard E % G == 0 else { throw fail(c, "router.groups", also: ["model.experts"], "\(G) does not divide model.experts (\(E))") }
    }

    /// A preset whose peer gate takes one k only (DeepSpeed's top-1 and top-2 gates)
    /// needs that `model.top_k`.
    static func compat(_ c: SimConfig) throws(ConfigError) {
        let preset = c.router.compat
        guard let k = preset.requiredTopK, c.model.topK != k else { return }
        let other = c.model.topK == 1 ? "deepspeed_top1" : c.model.topK == 2 ? "deepspeed_top2" : "deepspeed_topk"
        throw fail(c, "router.compat", also: ["model.top_k"],
                   "\(preset.rawValue) is DeepSpeed's top-\(k) gate, but model.top_k is \(c.model.topK) (did you mean '\(other)'?)")
    }

    /// `float32_score` picks among the bare scores: a bias or group limit would choose
    /// by other values.
    static func firstChoice(_ c: SimConfig) throws(ConfigError) {
        guard c.router.firstChoice == .float32Score else { return }
        if c.router.bias.contains(where: { $0 != 0 }) {
            throw fail(c, "router.first_choice", also: ["router.bias"], "float32_score picks by the bare scores; not with a nonzero router.bias")
        }
        if c.router.groups > 1 {
            throw fail(c, "router.first_choice", also: ["router.groups"], "float32_score picks by the bare scores; not with router.groups \(c.router.groups)")
        }
    }

    static func groupsPerToken(_ c: SimConfig) throws(ConfigError) {
        let r = c.router, E = c.model.experts, k = c.model.topK
        guard r.groupsPerToken <= r.groups else {
            throw fail(c, "router.groups_per_token", also: ["router.groups"], "\(r.groupsPerToken) exceeds router.groups (\(r.groups))")
        }
        guard r.groups == 1 || k <= r.groupsPerToken * (E / r.groups) else {
            throw fail(c, "router.groups_per_token", also: ["router.groups", "model.top_k", "model.experts"],
                       "\(r.groupsPerToken) groups of \(E / r.groups) experts hold fewer than model.top_k (\(k))")
        }
    }

    /// rotating_hotspot: the window leaves at least one expert cold.
    static func rotatingCount(_ c: SimConfig) throws(ConfigError) {
        guard case let .rotatingHotspot(count, _, _) = c.workload else { return }
        guard count < c.model.experts else {
            throw fail(c, "workload.count", also: ["model.experts"],
                       "\(count) hot experts of model.experts (\(c.model.experts)); at least one must stay cold")
        }
    }

    /// hot_rank at world size P: the hot rank and the sources exist, and the hot rank's
    /// contiguous block holds at least one expert and not all of them.
    static func checkHotRank(_ c: SimConfig, size P: Int) throws(ConfigError) {
        guard case let .hotRank(rank, _, sources) = c.workload else { return }
        guard rank < P else { throw fail(c, "workload.rank", "rank \(rank) is out of range 0..<\(P) (the world size)") }
        if let bad = sources.first(where: { $0 >= P }) {
            throw fail(c, "workload.sources", "rank \(bad) is out of range 0..<\(P) (the world size)")
        }
        let block = ExpertLayout.contiguousLists(experts: c.model.experts, ranks: P)[rank].count
        guard block > 0 else {
            throw fail(c, "workload.rank", also: ["model.experts"],
                       "rank \(rank)'s contiguous block is empty (\(c.model.experts) experts on \(P) ranks); pick a rank below \(c.model.experts)")
        }
        guard block < c.model.experts else {
            throw fail(c, "workload.rank", "rank \(rank)'s block holds all \(c.model.experts) experts on \(P) rank; hot_rank needs 2 ranks or more")
        }
    }

    /// The hot experts: at least one, each once, each an expert, and not all of them
    /// (the others share 1 − fraction, and the fraction is below 1).
    static func hotExperts(_ c: SimConfig) throws(ConfigError) {
        guard case let .hot(hot, _) = c.workload else { return }
        let E = c.model.experts
        guard !hot.isEmpty else { throw fail(c, "workload.experts", "expected at least one expert, got []") }
        if let bad = hot.first(where: { !(0..<E).contains($0) }) {
            throw fail(c, "workload.experts", also: ["model.experts"], "expert \(bad) is out of range 0..<\(E)")
        }
        guard Set(hot).count == hot.count else { throw fail(c, "workload.experts", "expected distinct experts, got \(hot)") }
        guard hot.count < E else {
            throw fail(c, "workload.experts", also: ["model.experts"],
                       "lists all \(E) experts (model.experts); at least one must stay cold to take the other 1 − workload.fraction")
        }
    }

    /// `placement.groups` divides `model.experts` (EPLB's `num_logical_experts % num_groups`).
    static func eplbGroups(_ c: SimConfig) throws(ConfigError) {
        guard case let .eplb(e) = c.placement.base else { return }
        guard c.model.experts % e.groups == 0 else {
            throw fail(c, "placement.groups", also: ["model.experts", "router.groups"],
                       "\(e.groups) does not divide model.experts (\(c.model.experts))")
        }
    }

    static func placement(_ c: SimConfig) throws(ConfigError) {
        try checkPlacement(c.placement, experts: c.model.experts, ranks: nil) { c.origin(of: $0) }
    }

    // MARK: checks that need the world size

    private static func checkWorld(_ c: SimConfig, size: Int) throws(ConfigError) {
        if let expected = c.ranks, expected != size {
            throw ConfigError(file: c.origin(of: "ranks"), keyPath: "ranks",
                              "config expects \(expected) ranks, but the run has \(size); run it with "
                                + "--emulate \(expected) or mpirun -n \(expected), or change it with --set ranks=\(size)")
        }
        if case let .perRank(list) = c.tokens, list.count != size {
            throw ConfigError(file: c.origin(of: "tokens"), keyPath: "tokens",
                              "lists \(list.count) ranks, but the run has \(size); give one count per rank "
                                + "or run it with --emulate \(list.count) or mpirun -n \(list.count)")
        }
        try checkPlacement(c.placement, experts: c.model.experts, ranks: size) { c.origin(of: $0) }
        try checkHotRank(c, size: size)
        switch c.workload {
        case let .trace(files, _):
            try checkTraceFiles(files.count, worldSize: size, origin: c.origin(of: "workload"))
        case let .topkTrace(ids, weights, _):
            try checkTraceFiles(ids.count, worldSize: size, origin: c.origin(of: "workload"), key: "workload.topk_ids")
            try checkTraceFiles(weights.count, worldSize: size, origin: c.origin(of: "workload"), key: "workload.topk_weights")
            try checkTopKSourceCounts(ids: ids.count, weights: weights.count, origin: c.origin(of: "workload"))
        default: break
        }
    }

    /// A top-k trace pairs its weight sources with its index sources one for one.
    static func checkTopKSourceCounts(ids: Int, weights: Int, origin: String?) throws(ConfigError) {
        guard ids == weights else {
            throw ConfigError(file: origin, keyPath: "workload.topk_weights",
                              "\(weights) sources, \(ids) for workload.topk_ids; give as many of each")
        }
    }

    /// Every check of a placement: explicit lists and replicas name experts, each once
    /// per rank; with `ranks` (the world size), one explicit list per rank, replicas on
    /// ranks that exist, and every expert placed. `ExpertLayout` runs it too. `origin`
    /// gives the source of the value at a key path.
    static func checkPlacement(_ p: PlacementConfig, experts E: Int, ranks P: Int?,
                               origin: (String) -> String? = { _ in nil }) throws(ConfigError) {
        func fail(_ path: String, _ message: String) -> ConfigError {
            ConfigError(file: origin(path), keyPath: path, message)
        }
        if case let .explicit(lists) = p.base {
            for (r, list) in lists.enumerated() {
                if let e = list.first(where: { !(0..<E).contains($0) }) {
                    throw fail("placement.ranks[\(r)]", "expert \(e) is out of range 0..<\(E)")
                }
                if Set(list).count != list.count { throw fail("placement.ranks[\(r)]", "rank \(r) lists an expert twice: \(list)") }
            }
        }
        for (i, replica) in p.replicas.enumerated() where !(0..<E).contains(replica.expert) {
            throw fail("placement.replicas[\(i)].expert", "expert \(replica.expert) is out of range 0..<\(E)")
        }
        guard let P else { return }
        var placed = [Bool](repeating: false, count: E)
        switch p.base {
        case .contiguous:
            placed = [Bool](repeating: true, count: E)
        case let .eplb(e):
            try checkEPLB(e, experts: E, ranks: P, fail: fail)
            placed = [Bool](repeating: true, count: E)
        case let .explicit(lists):
            guard lists.count == P else {
                throw fail("placement.ranks", "explicit placement lists \(lists.count) ranks, but the run has \(P); "
                           + "give one list per rank or run it with --emulate \(lists.count) or mpirun -n \(lists.count)")
            }
            for e in lists.joined() { placed[e] = true }
        }
        for (i, replica) in p.replicas.enumerated() {
            if let r = replica.ranks.first(where: { !(0..<P).contains($0) }) {
                throw fail("placement.replicas[\(i)].ranks", "rank \(r) is out of range 0..<\(P)")
            }
            if !replica.ranks.isEmpty { placed[replica.expert] = true }
        }
        if let missing = placed.firstIndex(of: false) {
            throw fail("placement", "expert \(missing) is not placed on any rank")
        }
    }

    /// EPLB's preconditions at world size P (`EPLB.rebalance`): E loads, groups dividing
    /// E, ranks per node dividing P, and E + N physical experts a multiple of P.
    static func checkEPLB(_ e: EPLBPlacement, experts E: Int, ranks P: Int,
                          fail: (String, String) -> ConfigError) throws(ConfigError) {
        guard e.load.count == E else {
            throw fail("placement.load", "\(e.file) holds \(e.load.count) loads, but model.experts is \(E)")
        }
        guard E % e.groups == 0 else {
            throw fail("placement.groups", "\(e.groups) does not divide model.experts (\(E))")
        }
        if let g = e.ranksPerNode, P % g != 0 {
            throw fail("placement.ranks_per_node", "\(g) does not divide the world size \(P); nodes must be whole")
        }
        let physical = E + e.redundantExperts
        guard physical % P == 0 else {
            let next = (physical + P - 1) / P * P - E
            throw fail("placement.redundant_experts",
                       "\(e.redundantExperts): model.experts + redundant_experts = \(physical) is not a multiple of the world size \(P) "
                       + "(EPLB gives every rank the same number of slots); try \(next)")
        }
    }

    /// A top-k trace records k experts per token, not the order of the others, which a
    /// reroute walks: `overflow.policy: reroute` is refused.
    static func topkTrace(_ c: SimConfig) throws(ConfigError) {
        guard case .topkTrace = c.workload, c.overflow.policy == .reroute else { return }
        throw fail(c, "overflow.policy", also: ["workload"],
                   "reroute needs each token's preference beyond its k choices, which a top-k trace does not record; "
                   + "use overflow.policy: drop, or a logits trace (workload.kind: trace)")
    }

    /// A trace is one file split across ranks or one file per rank; `RouterTrace.plan`
    /// checks every source list (logits, top-k ids and weights) with it.
    static func checkTraceFiles(_ count: Int, worldSize P: Int, origin: String?,
                                key: String = NpyReader.keyPath) throws(ConfigError) {
        guard count == 1 || count == P else {
            throw ConfigError(file: origin, keyPath: key,
                              "expected 1 file or one per rank (\(P)), got \(count) files")
        }
    }
}
