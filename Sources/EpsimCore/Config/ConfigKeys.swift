/// Every config key, in one table (see `ConfigKey`). Its order is the order of the
/// resolved config (`epsim validate`, the result file's `config`) and of docs/config.md.
public enum ConfigKeys {
    static let maxExperts = 65_536
    static let maxRanks = 65_536
    static let int32 = Int(Int32.max)

    public static let table: [ConfigKey] = [
        int("model.hidden", 1...(1 << 24), doc: "H, token width.") { .int($0.model.hidden) },
        int("model.ffn", 1...(1 << 24), doc: "F, inner width of an expert FFN.") { .int($0.model.ffn) },
        int("model.experts", 1...maxExperts, doc: "E, routed (logical) experts.") { .int($0.model.experts) },
        int("model.top_k", 1...maxExperts, "≤ `model.experts`", rule: ConfigValidator.topK,
            doc: "k, experts per token.") { .int($0.model.topK) },
        int("model.shared_experts", 0...1024, doc: "S, always-active experts computed on every rank.") {
            .int($0.model.sharedExperts)
        },
        names("model.activation", Activation.self, doc: "expert FFN: `swiglu` (three matrices) or `gelu` (two).") { $0.model.activation },
        int("model.layers", 1...1_000_000, doc: "MoE layers in sequence.") { .int($0.model.layers) },
        int("tokens", 0...int32, "one entry per rank in a list; tokens × `model.top_k` ≤ 2³¹ − 1",
            rule: ConfigValidator.assignments,
            doc: "tokens per rank per step, or a list with one count per rank (uneven batches).") { c in
            switch c.tokens {
            case let .uniform(n): return .int(n)
            case let .perRank(list): return .array(list.map { .int($0) })
            }
        },
        key("router.compat", .names(CompatPreset.allCases.map(\.rawValue)), rule: ConfigValidator.compat,
            doc: "sets every key that decides a peer's gate to that peer's value, so decisions and weights equal its own (docs/semantics.md, Presets): `deepspeed_top1`, `deepspeed_top2`, `deepspeed_topk` (DeepSpeed 0.19's gates), `megatron` (Megatron-Core 0.16's router); a key written beside it overrides it.") {
            .string($0.router.compat.rawValue)
        },
        names("router.first_choice", FirstChoice.self, rule: ConfigValidator.firstChoice,
              doc: "`logit`: the first of the ranking; `float32_score`: the lowest-index expert of the highest float32 score (DeepSpeed's top-1 and top-2 gates, `torch.argmax` of the softmax); the other choices follow the ranking.") {
            $0.router.firstChoice
        },
        names("router.score", ScoreFunction.self, doc: "score function applied to the logits.") { $0.router.score },
        names("router.weights", WeightMode.self,
              doc: "slot weights: `softmax_topk` (softmax over the k chosen logits), `normalized` (chosen scores over their sum), `raw` (the score).") {
            $0.router.weights
        },
        number("router.noise_std", 0, upper: 1000,
               doc: "standard deviation of seeded Gaussian noise on the gating logits.") { .double($0.router.noiseStd) },
        number("router.bias", -1e6, upper: 1e6, "`model.experts` entries or none", rule: ConfigValidator.bias,
               doc: "per-expert selection bias; changes choices, never weights.") {
            .array($0.router.bias.map { .double(Double($0)) })
        },
        int("router.groups", 1...maxExperts, "divides `model.experts`", rule: ConfigValidator.groups,
            doc: "G, expert groups for group-limited routing.") { .int($0.router.groups) },
        int("router.groups_per_token", 1...maxExperts, "≤ `router.groups`; with G > 1 they hold ≥ `model.top_k` experts",
            rule: ConfigValidator.groupsPerToken, doc: "groups a token may use.") { .int($0.router.groupsPerToken) },
        key("router.seed", .seed, default: "`seed`", doc: "seeds the gate matrix and its noise.") {
            $0.router.seed.map { .string(String($0)) } ?? .null
        },
        key("workload.kind", .names(workloadKinds),
            doc: "how tokens choose experts: `gating` (logits = x · Wg), `uniform` (every expert equally likely), `zipf`, `hot`, `trace` (recorded logits), `topk_trace` (recorded top-k choices and weights), `hot_rank`, `rotating_hotspot` or `lognormal` (below).") {
            .string($0.workload.name)
        },
        number("workload.exponent", 0, lowerOpen: true, upper: 100, default: "required for zipf",
               doc: "zipf: p(e) ∝ 1/(e+1)^s.") { c in
            if case let .zipf(s) = c.workload { return .double(s) }
            return nil
        },
        int("workload.experts", 0...(maxExperts - 1), "distinct, < `model.experts`, not all of them",
            rule: ConfigValidator.hotExperts, default: "required for hot",
            doc: "hot: the experts that share `workload.fraction` of first choices; the rest share the remainder.") { c in
            if case let .hot(experts, _) = c.workload { return .array(experts.map { .int($0) }) }
            return nil
        },
        number("workload.fraction", 0, lowerOpen: true, upper: 1, upperOpen: true,
               default: "required for hot, hot_rank, rotating_hotspot",
               doc: "hot: the share of first choices the listed experts receive; hot_rank: the share a source rank sends to the hot rank's experts; rotating_hotspot: the share of the hot window.") { c in
            switch c.workload {
            case let .hot(_, fraction), let .hotRank(_, fraction, _), let .rotatingHotspot(_, fraction, _): return .double(fraction)
            default: return nil
            }
        },
        int("workload.rank", 0...(maxRanks - 1), "< the world size; its block [r·E/P, (r+1)·E/P) holds an expert, not all",
            default: "required for hot_rank",
            doc: "hot_rank: the rank whose contiguous block of experts [r·E/P, (r+1)·E/P) receives `workload.fraction` of each source rank's first choices, whatever the placement.") { c in
            if case let .hotRank(rank, _, _) = c.workload { return .int(rank) }
            return nil
        },
        int("workload.sources", 0...(maxRanks - 1), "< the world size", default: "every rank (hot_rank)",
            doc: "hot_rank: the ranks whose tokens are skewed; the others route uniformly.") { c in
            if case let .hotRank(_, _, sources) = c.workload { return .array(sources.map { .int($0) }) }
            return nil
        },
        int("workload.count", 1...(maxExperts - 1), "< `model.experts`", rule: ConfigValidator.rotatingCount,
            default: "1 (rotating_hotspot)",
            doc: "rotating_hotspot: hot experts in the window; at step s (warm-up included, from 0) they are (⌊s / period⌋ · count + j) mod E, j < count.") { c in
            if case let .rotatingHotspot(count, _, _) = c.workload { return .int(count) }
            return nil
        },
        int("workload.period", 1...int32, default: "required for rotating_hotspot",
            doc: "rotating_hotspot: steps between moves of the hot window.") { c in
            if case let .rotatingHotspot(_, _, period) = c.workload { return .int(period) }
            return nil
        },
        number("workload.sigma", 0, upper: 10, default: "required for lognormal",
               doc: "lognormal: σ of the per-rank load: rank r's block of experts gets a share exp(σ·Z_r) / Σ exp(σ·Z) of first choices, Z_r ~ N(0, 1) drawn from `seed`; max/mean of the shares is P · max w / Σw (≈ exp(σ·√(2 ln P) − σ²/2) for large P).") { c in
            if case let .lognormal(sigma) = c.workload { return .double(sigma) }
            return nil
        },
        key("workload.file", .path, default: "—", doc: "trace: one file or folder, as `files: [F]`.", value: nil),
        key("workload.files", .path, "a list: one file or folder, or one per rank", default: "required for trace",
            doc: "trace: recorded router logits (docs/traces.md): NumPy `.npy` of shape [tokens, E] (every step and layer), [layers, tokens, E] (every step) or [steps, layers, tokens, E] (step s replays s mod steps), or a folder of `step_<s>_layer_<l>.npy` files [tokens, E]; float32, float16, or bfloat16 (`workload.dtype`). One source is split across ranks in rank order, or one per rank. Paths are relative to the config file.") { c in
            if case let .trace(files, _) = c.workload { return .array(files.map { .string($0) }) }
            return nil
        },
        key("workload.topk_ids", .path, "a list: one file or folder, or one per rank; not with `overflow.policy: reroute`",
            rule: ConfigValidator.topkTrace, default: "required for topk_trace",
            doc: "topk_trace: each token's k experts (vLLM's and SGLang's `topk_ids`), `.npy` int32 or int64 [tokens, k], [layers, tokens, k] or [steps, layers, tokens, k], or a folder as for trace; k = `model.top_k`, every index < `model.experts`, none twice in a token.") { c in
            if case let .topkTrace(ids, _, _) = c.workload { return .array(ids.map { .string($0) }) }
            return nil
        },
        key("workload.topk_weights", .path, "a list: one file or folder, or one per rank", default: "required for topk_trace",
            doc: "topk_trace: the weights of those slots (`topk_weights`), float32, float16 or bfloat16, the shape of `topk_ids`; finite and ≥ 0.") { c in
            if case let .topkTrace(_, weights, _) = c.workload { return .array(weights.map { .string($0) }) }
            return nil
        },
        key("workload.dtype", .names(TraceDType.allCases.map(\.rawValue)), default: "auto (traces)",
            doc: "trace, topk_trace: `auto` reads each file's type from its header; `bf16` reads 2-byte raw values ('<u2', '<i2', or ml_dtypes' 2-byte void 'V2') as bfloat16 bits.") { c in
            c.workload.traceSources.map { .string($0.dtype.rawValue) }
        },
        number("capacity.factor", 0, lowerOpen: true, upper: 1e6, words: ["none"],
               doc: "cf, or `none` for dropless. A C beyond 2⁵³ is reported as 2⁵³ (no assignment is dropped either way). Left out when `capacity.value` is set.") {
            $0.capacity.value != nil ? nil : $0.capacity.factor.map { .double($0) } ?? .string("none")
        },
        int("capacity.value", 0...int32, words: ["none"],
            doc: "C itself (per source rank, or for the world with scope `global`) instead of the formula; not together with `capacity.factor` or `capacity.min_capacity`.") {
            $0.capacity.value.map { .int($0) } ?? .string("none")
        },
        int("capacity.min_capacity", 0...int32, doc: "lower bound on C (DeepSpeed's default is 4; Megatron-Core has none).") {
            $0.capacity.value == nil ? .int($0.capacity.minCapacity) : nil
        },
        names("capacity.rounding", CapacityRounding.self,
              doc: "how ceil(T·k/E·cf) is evaluated: `exact` (double precision, Megatron-Core) or `float32` (ceil(float32(T/E) · float32(cf·k)), DeepSpeed).") {
            $0.capacity.rounding
        },
        names("capacity.scope", CapacityScope.self,
              doc: "`local`: C per source rank; `global`: C for the whole world, granted by demand exchange.") {
            $0.capacity.scope
        },
        names("capacity.priority", Priority.self, doc: "who wins a full expert.") { $0.capacity.priority },
        names("overflow.policy", OverflowPolicy.self, doc: "what becomes of an assignment whose expert is full.") {
            $0.overflow.policy
        },
        int("overflow.max_reroutes", 1...maxExperts, words: ["all"], doc: "candidates a rerouted slot may consider.") {
            $0.overflow.maxReroutes.map { .int($0) } ?? .string("all")
        },
        names("overflow.reroute_scope", RerouteScope.self,
              doc: "where a rerouted slot may go: any expert, those on the full expert's rank, or those on the token's rank.") {
            $0.overflow.rerouteScope
        },
        key("overflow.renormalize", .bool, doc: "divide each token's surviving weights by their sum.") {
            .bool($0.overflow.renormalize)
        },
        number("overflow.renormalize_epsilon", 0, upper: 1,
               doc: "with `renormalize`, divide by max(sum, this) instead (DeepSpeed clamps the sum at float32 epsilon, 2⁻²³ ≈ 1.1920929e-07); 0: by the sum.") {
            .double($0.overflow.renormalizeEpsilon)
        },
        key("placement.kind", .names(placementKinds),
            doc: "where experts live: `contiguous` (rank r holds [r·E/P, (r+1)·E/P)), `explicit` (`placement.ranks`) or `eplb` (computed by DeepSeek's EPLB from `placement.load`).") { c in
            switch c.placement.base {
            case .contiguous: return .string("contiguous")
            case .explicit: return .string("explicit")
            case .eplb: return .string("eplb")
            }
        },
        int("placement.ranks", 0...(maxExperts - 1), "< `model.experts`; a list per rank, no expert twice in one",
            default: "required for explicit",
            doc: "explicit: per rank, the experts it holds; an expert on several ranks has several copies.") { c in
            if case let .explicit(lists) = c.placement.base { return .array(lists.map { .array($0.map { .int($0) }) }) }
            return nil
        },
        key("placement.load", .path, default: "required for eplb",
            doc: "eplb: measured load per logical expert, a JSON file: an epsim result (its `routing.expert_load`) or a plain array of `model.experts` non-negative numbers, not all 0. Relative to the config file.") { c in
            if case let .eplb(e) = c.placement.base { return .string(e.file) }
            return nil
        },
        int("placement.redundant_experts", 0...maxExperts, "`model.experts` + N is a multiple of the world size",
            default: "0 (eplb)",
            doc: "eplb: N, physical experts beyond E (EPLB's num_replicas − E); every rank holds (E + N) / P slots.") { c in
            if case let .eplb(e) = c.placement.base { return .int(e.redundantExperts) }
            return nil
        },
        int("placement.ranks_per_node", 1...maxRanks, "divides the world size", default: "the world size (eplb)",
            doc: "eplb: ranks per node; nodes = P / this. Rank r is on node ⌊r / this⌋.") { c in
            if case let .eplb(e) = c.placement.base { return e.ranksPerNode.map { .int($0) } ?? .null }
            return nil
        },
        int("placement.groups", 1...maxExperts, "divides `model.experts`", rule: ConfigValidator.eplbGroups,
            default: "`router.groups` (eplb)",
            doc: "eplb: expert groups; when they divide by the nodes, EPLB's hierarchical policy (groups packed onto nodes, replicas within each node), else its global one.") { c in
            if case let .eplb(e) = c.placement.base { return .int(e.groups) }
            return nil
        },
        key("placement.replicas", .mappings, rule: ConfigValidator.placement,
            doc: "extra copies on top of any kind: `[{expert: 0, ranks: [1, 3]}]`.") { c in
            .array(c.placement.replicas.map {
                .object([("expert", .int($0.expert)), ("ranks", .array($0.ranks.map { .int($0) }))])
            })
        },
        int("placement.replicas[].expert", 0...(maxExperts - 1), "< `model.experts`", default: "—",
            doc: "the expert copied.", value: nil),
        int("placement.replicas[].ranks", 0...(maxRanks - 1), "< the world size", default: "—",
            doc: "the ranks that also hold it.", value: nil),
        names("dispatch.dedup", DispatchDedup.self,
              doc: "`none`: one dispatch row per accepted (token, expert) assignment (Megatron-Core); `rank`: one row per (token, destination rank) with 8 · `model.top_k` bytes of metadata (each slot's local expert or −1, and its weight), and one combine row back, the token's experts on that rank summed there (DeepEP). Same outputs, fewer bytes; capacity still counts assignments.") {
            $0.dispatch.dedup
        },
        names("precision.dispatch", WirePrecision.self, doc: "wire format of dispatched tokens.") { $0.precision.dispatch },
        names("precision.combine", WirePrecision.self, doc: "wire format of returned expert outputs.") { $0.precision.combine },
        key("compute.mode", .names(computeModes),
            doc: "`real` (BLAS), or `modeled`: no arithmetic; the expert phase takes FLOPs / (tflops · 10¹² · efficiency) seconds.") { c in
            if case .modeled = c.compute { return .string("modeled") }
            return .string("real")
        },
        number("compute.tflops", 0.001, upper: 1e6, default: ConfigKey.number(ComputeMode.defaultTFLOPS),
               doc: "modeled: the device's dense TFLOP/s.") { c in
            if case let .modeled(tflops, _) = c.compute { return .double(tflops) }
            return nil
        },
        number("compute.efficiency", 0.001, upper: 1, default: ConfigKey.number(ComputeMode.defaultEfficiency),
               doc: "modeled: the share of `compute.tflops` the experts reach.") { c in
            if case let .modeled(_, efficiency) = c.compute { return .double(efficiency) }
            return nil
        },
        int("overlap.chunks", 1...64,
            doc: "split each rank's tokens into this many contiguous chunks and pipeline them: chunk i+1's dispatch and chunk i−1's combine are in flight (non-blocking all-to-allv) while chunk i's experts compute. Decisions (capacity) are made for the whole batch first, so outputs equal those of `chunks: 1` up to sgemm rounding.") {
            .int($0.overlapChunks)
        },
        int("steps", 1...int32, doc: "counted steps.") { .int($0.steps) },
        int("warmup_steps", 0...1_000_000, doc: "steps run first and excluded from every figure.") { .int($0.warmupSteps) },
        key("seed", .seed, doc: "seeds token inputs, gate weights, expert weights and synthetic routing.") {
            .string(String($0.seed))
        },
        int("ranks", 1...maxRanks, "= the world size", default: "any",
            doc: "world size the layout expects; a run on another size is an error. `launch/run` uses it as `-n`.") {
            $0.ranks.map { .int($0) } ?? .null
        },
    ]

    static let workloadKinds = ["gating", "uniform", "zipf", "hot", "trace", "topk_trace", "hot_rank", "rotating_hotspot", "lognormal"]
    static let placementKinds = ["contiguous", "explicit", "eplb"]
    static let computeModes = ["real", "modeled"]

    private static let byPath: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: table.map { ($0.path, $0) })

    /// The key at `path`, list indices ignored: `tokens[3]` is `tokens`, and
    /// `placement.replicas[0].ranks[1]` is `placement.replicas[].ranks`. Nil for a path
    /// that is no key.
    public static func key(for path: String) -> ConfigKey? {
        var p = pattern(path)
        while true {
            if let key = byPath[p] { return key }
            guard p.hasSuffix("[]") else { return nil }
            p.removeLast(2)
        }
    }

    /// The names of the keys directly below `prefix` ("" for the top level), in table
    /// order: what a mapping there may hold.
    static func children(of prefix: String) -> [String] {
        let start = prefix.isEmpty ? "" : prefix + "."
        var names: [String] = []
        for key in table where key.path.hasPrefix(start) {
            let rest = key.path.dropFirst(start.count)
            let name = String(rest.prefix { $0 != "." && $0 != "[" })
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// `placement.ranks[2][0]` -> `placement.ranks[][]`.
    static func pattern(_ path: String) -> String {
        var out = "", inIndex = false
        for ch in path {
            if ch == "[" { inIndex = true; out += "[]" } else if ch == "]" { inIndex = false } else if !inIndex { out.append(ch) }
        }
        return out
    }

    /// The key table of docs/config.md.
    public static var markdown: String {
        (["| key | default | values | meaning |", "|---|---|---|---|"] + table.map(\.markdownRow)).joined(separator: "\n") + "\n"
    }

    // The table's row builders.

    private typealias Rule = @Sendable (SimConfig) throws(ConfigError) -> Void
    private typealias Value = @Sendable (SimConfig) -> JSONValue?

    private static func key(_ path: String, _ values: ConfigKey.Values, _ condition: String = "", words: [String] = [],
                            rule: Rule? = nil, default text: String? = nil, doc: String, value: Value?) -> ConfigKey {
        ConfigKey(path: path, values: values, words: words, condition: condition, defaultText: text, doc: doc,
                  value: value, rule: rule)
    }

    private static func int(_ path: String, _ range: ClosedRange<Int>, _ condition: String = "", words: [String] = [],
                            rule: Rule? = nil, default text: String? = nil, doc: String, value: Value?) -> ConfigKey {
        key(path, .integer(range), condition, words: words, rule: rule, default: text, doc: doc, value: value)
    }

    private static func number(_ path: String, _ lower: Double, lowerOpen: Bool = false, upper: Double,
                               upperOpen: Bool = false, _ condition: String = "", words: [String] = [],
                               rule: Rule? = nil, default text: String? = nil, doc: String, value: Value?) -> ConfigKey {
        key(path, .number(lower: lower, lowerOpen: lowerOpen, upper: upper, upperOpen: upperOpen), condition,
            words: words, rule: rule, default: text, doc: doc, value: value)
    }

    private static func names<E: RawRepresentable & CaseIterable & Sendable>(
        _ path: String, _ type: E.Type, rule: Rule? = nil, doc: String, value: @escaping @Sendable (SimConfig) -> E
    ) -> ConfigKey where E.RawValue == String {
        key(path, .names(E.allCases.map(\.rawValue)), rule: rule, doc: doc) { .string(value($0).rawValue) }
    }
}
