/// `router.compat`: one word that sets every key whose value decides how a peer's gate
/// routes, so that epsim's decisions and weights equal that peer's on the same logits
/// (docs/semantics.md, "Presets", says what each reproduces and where the peer itself is
/// arbitrary). A key written beside the preset, in the file or by `--set`, overrides it:
/// the loader applies the preset to the defaults first and reads the file's keys on top.
///
/// What each sets (every other key keeps its own default):
///
/// | preset | score | first_choice | weights | priority | policy | renormalize (ε) | min_capacity | rounding |
/// |---|---|---|---|---|---|---|---|---|
/// | `deepspeed_top1` | softmax | float32_score | raw | position | drop | false | 4 | float32 |
/// | `deepspeed_top2` | softmax | float32_score | raw | slot_position | drop | true (2⁻²³) | 4 | float32 |
/// | `deepspeed_topk` | softmax | logit | raw | score | drop | true (2⁻²³) | 4 | float32 |
/// | `megatron` | softmax | logit | softmax_topk | score | drop | false | 0 | exact |
///
/// Sources: deepspeed 0.19.8 `deepspeed/moe/sharded_moe.py` (`top1gating`, `top2gating`,
/// `topkgating`, `_capacity`; min_capacity 4 is `deepspeed.moe.layer.MoE`'s default) and
/// megatron-core 0.16.1 `megatron/core/transformer/moe/moe_utils.py`
/// (`topk_routing_with_score_function`, `get_capacity`, `apply_router_token_dropping`
/// with the default `moe_token_drop_policy: probs`).
public enum CompatPreset: String, Sendable, CaseIterable {
    /// epsim's own defaults.
    case none
    /// DeepSpeed's `top1gating` with `use_rts: false`.
    case deepspeedTop1 = "deepspeed_top1"
    /// DeepSpeed's `top2gating` with `top2_2nd_expert_sampling: false`.
    case deepspeedTop2 = "deepspeed_top2"
    /// DeepSpeed's `topkgating` (k ≥ 3 in DeepSpeed; any k here) with `drop_policy: probs`.
    case deepspeedTopK = "deepspeed_topk"
    /// Megatron-Core's router: softmax after top-k, `moe_token_drop_policy: probs`.
    case megatron

    /// float32 machine epsilon, 2⁻²³ (`torch.finfo(torch.float32).eps`): DeepSpeed's
    /// gates divide the surviving weights by max(sum, this).
    public static let float32Epsilon = Double(Float.ulpOfOne)

    /// The `model.top_k` the peer's gate takes, if it takes only one.
    public var requiredTopK: Int? {
        switch self {
        case .deepspeedTop1: return 1
        case .deepspeedTop2: return 2
        case .none, .deepspeedTopK, .megatron: return nil
        }
    }

    /// Writes the preset's values into `c` (before the file's own keys are read).
    public func apply(to c: inout SimConfig) {
        c.router.compat = self
        switch self {
        case .none:
            return
        case .deepspeedTop1, .deepspeedTop2, .deepspeedTopK:
            c.router.weights = .raw
            c.capacity.priority = self == .deepspeedTop1 ? .position : self == .deepspeedTop2 ? .slotPosition : .score
            c.overflow.renormalize = self != .deepspeedTop1
            c.overflow.renormalizeEpsilon = self == .deepspeedTop1 ? 0 : Self.float32Epsilon
            c.capacity.minCapacity = 4
            c.capacity.rounding = .float32
        case .megatron:
            c.router.weights = .softmaxTopK
            c.capacity.priority = .score
            c.overflow.renormalize = false
            c.overflow.renormalizeEpsilon = 0
            c.capacity.minCapacity = 0
            c.capacity.rounding = .exact
        }
        // Every peer: softmax scores, and its dropping gates.
        c.router.score = .softmax
        c.router.firstChoice = self == .deepspeedTop1 || self == .deepspeedTop2 ? .float32Score : .logit
        c.overflow.policy = .drop
    }
}

extension CompatPreset {
    /// The keys the preset sets, as config paths.
    public static let keyPaths = [
        "router.score", "router.first_choice", "router.weights", "capacity.priority", "overflow.policy",
        "overflow.renormalize", "overflow.renormalize_epsilon", "capacity.min_capacity", "capacity.rounding",
    ]

    /// One key of `config` whose value differs from the one its preset sets: a key written
    /// in the file or with `--set` beside the preset, which wins over it.
    public struct Override: Sendable, Equatable {
        public var key: String
        /// The value in effect, and the preset's, in YAML flow style.
        public var value: String
        public var presetValue: String
    }

    /// The preset's keys that `config` sets to other values than the preset
    /// (`config.router.compat`); empty without a preset. A copied config that spells out
    /// epsim's defaults (`weights: softmax_topk`, `priority: score`) undoes part of a
    /// preset this way, which is what users should be told.
    public static func overrides(in config: SimConfig) -> [Override] {
        let preset = config.router.compat
        guard preset != .none else { return [] }
        var base = SimConfig()
        preset.apply(to: &base)
        return keyPaths.compactMap { path -> Override? in
            guard let value = ConfigKeys.key(for: path)?.value else { return nil }
            let have = value(config).map(ConfigLoader.flow), want = value(base).map(ConfigLoader.flow)
            guard let have, let want, have != want else { return nil }
            return Override(key: path, value: have, presetValue: want)
        }
    }

    /// One line naming the overrides of `config`'s preset, or nil when there are none:
    /// "router.compat deepspeed_top2: router.weights softmax_topk, capacity.priority score
    /// are set beside it and win over the preset's raw, slot_position (...)".
    public static func overrideNotice(_ config: SimConfig) -> String? {
        let list = overrides(in: config)
        guard !list.isEmpty else { return nil }
        let written = list.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        let presets = list.map(\.presetValue).joined(separator: ", ")
        let (verbs, keys) = list.count == 1 ? ("is set beside it and wins", "that key") : ("are set beside it and win", "those keys")
        return "router.compat \(config.router.compat.rawValue): \(written) \(verbs) over the preset's \(presets) "
            + "(remove \(keys) to route as the peer does)"
    }
}

