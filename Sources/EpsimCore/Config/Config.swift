/// The resolved description of one simulated layout: every field has its default
/// filled in. `ConfigLoader` checks what it reads with `ConfigValidator`; `ConfigKeys`
/// lists every key, its default and its range, as docs/config.md does.
public struct SimConfig: Sendable, Equatable {
    public var model = ModelConfig()
    /// Tokens per rank: one number for every rank, or one entry per rank.
    public var tokens: TokenCounts = .uniform(512)
    public var router = RouterConfig()
    public var workload: Workload = .gating
    public var capacity = CapacityConfig()
    public var overflow = OverflowConfig()
    public var placement = PlacementConfig()
    public var dispatch = DispatchConfig()
    public var precision = PrecisionConfig()
    public var compute: ComputeMode = .real
    /// Token chunks pipelined through dispatch, experts and combine (1: no overlap).
    public var overlapChunks = 1
    /// Counted steps (after warm-up).
    public var steps = 10
    /// Steps run before counting starts; excluded from every report.
    public var warmupSteps = 2
    /// Seeds inputs, weights and synthetic routing.
    public var seed: UInt64 = 1234
    /// If set, the world size the layout expects; a run on any other size is an error.
    public var ranks: Int? = nil
    /// Where the config was read from, for messages (not part of the layout).
    public var sourcePath: String? = nil
    /// The `--set key=value` overrides applied on top of the file, in order, for
    /// messages (not part of the layout).
    public var overrides: [String] = []

    public init() {}

    /// Where the value at `keyPath` came from, as messages name it: `--set key=value`
    /// for the last override that set it or a mapping or list above it (or a key
    /// below it), otherwise the config file.
    public func origin(of keyPath: String) -> String? {
        for o in overrides.reversed() {
            guard let eq = o.firstIndex(of: "=") else { continue }
            let key = String(o[..<eq])
            if keyPath == key || keyPath.hasPrefix(key + ".") || keyPath.hasPrefix(key + "[")
                || key.hasPrefix(keyPath + ".") {
                return "--set " + o
            }
        }
        return sourcePath
    }

    /// Tokens on `rank` in a world of `size` ranks.
    public func tokens(rank: Int, size: Int) -> Int {
        switch tokens {
        case let .uniform(n): return n
        case let .perRank(list): return list[rank]
        }
    }

    /// Σ_r T_r over a world of `size` ranks.
    public func worldTokens(size: Int) -> Int {
        (0..<size).reduce(0) { $0 + tokens(rank: $1, size: size) }
    }
}

public enum TokenCounts: Sendable, Equatable {
    case uniform(Int)
    case perRank([Int])
}

public struct ModelConfig: Sendable, Equatable {
    /// H: width of a token.
    public var hidden = 256
    /// F: inner width of an expert FFN.
    public var ffn = 512
    /// E: routed (logical) experts.
    public var experts = 8
    /// k: experts per token.
    public var topK = 2
    /// S: shared experts, always active, present on every rank.
    public var sharedExperts = 0
    public var activation: Activation = .swiglu
    /// MoE layers run in sequence (x + MoE(x)).
    public var layers = 1
    public init() {}
}

public enum Activation: String, Sendable, CaseIterable { case swiglu, gelu }

public struct RouterConfig: Sendable, Equatable {
    public var score: ScoreFunction = .softmax
    public var weights: WeightMode = .softmaxTopK
    /// Standard deviation of seeded Gaussian noise added to the gating logits (0: none).
    public var noiseStd: Double = 0
    /// Per-expert selection bias: added to scores for choosing, never to weights.
    /// Empty, or exactly E entries.
    public var bias: [Float] = []
    /// G: expert groups for group-limited routing (1: off). Must divide E.
    public var groups = 1
    /// Groups a token may use when `groups > 1`.
    public var groupsPerToken = 1
    /// Seeds the gate matrix Wg and the noise; nil means derived from `SimConfig.seed`.
    public var seed: UInt64? = nil
    /// The peer whose gate the other keys were preset to reproduce (`CompatPreset`);
    /// `none`: epsim's own defaults. Applied when the config is read: the keys it sets
    /// hold its values unless the file or a `--set` writes them.
    public var compat: CompatPreset = .none
    /// How the first choice is made (`FirstChoice`).
    public var firstChoice: FirstChoice = .logit
    public init() {}
}

/// `router.first_choice`: which expert is a token's first choice.
public enum FirstChoice: String, Sendable, CaseIterable {
    /// The first of the ranking (by logit, or by score + bias; docs/semantics.md, Router).
    case logit
    /// The lowest-index expert of the highest float32 score, as DeepSpeed's top-1 and
    /// top-2 gates take `torch.argmax` of the float32 softmax: logits 0 and 1e-8 have
    /// the same probability there, so expert 0 is first. The rest follow the ranking.
    case float32Score = "float32_score"
}

public enum ScoreFunction: String, Sendable, CaseIterable { case softmax, sigmoid }

public enum WeightMode: String, Sendable, CaseIterable {
    /// softmax over the k chosen logits (Mixtral, Megatron-Core default).
    case softmaxTopK = "softmax_topk"
    /// chosen probabilities divided by their sum (DeepSeek).
    case normalized
    /// the probability itself (Switch top-1, DeepSpeed top-k).
    case raw
}

public enum Workload: Sendable, Equatable {
    /// Real gating: logits = x · Wg.
    case gating
    /// Every expert equally likely.
    case uniform
    /// Expert i (0-based) has popularity proportional to 1 / (i+1)^exponent.
    case zipf(exponent: Double)
    /// `experts` share `fraction` of first choices; the rest share the remainder.
    case hot(experts: [Int], fraction: Double)
    /// Recorded router logits (docs/traces.md): NumPy .npy files of shape [tokens, E],
    /// [layers, tokens, E] or [steps, layers, tokens, E], or folders of
    /// `step_<s>_layer_<l>.npy` files [tokens, E]; float32, float16, or bfloat16 bits
    /// with `dtype` bf16. One source split across ranks in rank order, or one per rank.
    case trace(files: [String], dtype: TraceDType = .auto)
    /// Recorded top-k routing (docs/traces.md): expert indices [.., tokens, k] int32 or
    /// int64 (vLLM's and SGLang's `topk_ids`) and their weights [.., tokens, k] float
    /// (`topk_weights`), each one source split across ranks or one per rank, in the
    /// shapes and folders `trace` takes.
    case topkTrace(ids: [String], weights: [String], dtype: TraceDType = .auto)
    /// Token imbalance towards one rank (DeepEP #343): on each source rank (`sources`,
    /// empty: every rank) `fraction` of first choices go to the experts of rank `rank`'s
    /// contiguous block [rank·E/P, (rank+1)·E/P) (whatever the placement), the rest
    /// equally to the others; every other rank routes uniformly.
    case hotRank(rank: Int, fraction: Double, sources: [Int])
    /// `count` consecutive experts share `fraction` of first choices, and the window moves
    /// by `count` every `period` steps: at step s it starts at (⌊s / period⌋ · count) mod E.
    case rotatingHotspot(count: Int, fraction: Double, period: Int)
    /// Per-rank load drawn log-normal (DeepEP #393): destination rank r's contiguous block
    /// gets a share w_r / Σw of first choices, w_r = exp(sigma · Z_r), Z_r ~ N(0, 1) from the seed.
    case lognormal(sigma: Double)

    public var name: String {
        switch self {
        case .gating: return "gating"
        case .uniform: return "uniform"
        case .zipf: return "zipf"
        case .hot: return "hot"
        case .trace: return "trace"
        case .topkTrace: return "topk_trace"
        case .hotRank: return "hot_rank"
        case .rotatingHotspot: return "rotating_hotspot"
        case .lognormal: return "lognormal"
        }
    }
}

/// How a trace's 2-byte raw values are read (`workload.dtype`).
public enum TraceDType: String, Sendable, CaseIterable {
    /// From each file's header: '<f4', '<f2' (and '<i4', '<i8' for top-k indices).
    case auto
    /// '<u2', '<i2', '|V2' and '<V2' hold bfloat16 bits (as `tensor.view(torch.int16)`
    /// or ml_dtypes' bfloat16 save them); float32 and float16 files are read as with auto.
    case bf16
}

extension Workload {
    /// The trace sources of either trace kind, and how their raw values read; nil for
    /// synthetic and gating workloads.
    public var traceSources: (files: [String], dtype: TraceDType)? {
        switch self {
        case let .trace(files, dtype): return (files, dtype)
        case let .topkTrace(ids, weights, dtype): return (ids + weights, dtype)
        default: return nil
        }
    }

    /// Whether the workload replays a recorded trace (logits or top-k).
    public var isTrace: Bool { traceSources != nil }
}

public struct CapacityConfig: Sendable, Equatable {
    /// cf; nil means dropless (no capacity limit). Not used when `value` is set.
    public var factor: Double? = 1.25
    /// Lower bound on C. Not used when `value` is set.
    public var minCapacity = 0
    /// How ceil(T·k/E·cf) is evaluated (`CapacityRounding`).
    public var rounding: CapacityRounding = .exact
    /// C itself, per source rank (scope local) or for the world (scope global), instead
    /// of the formula; nil: the formula with `factor`.
    public var value: Int? = nil
    public var scope: CapacityScope = .local
    public var priority: Priority = .score
    /// Whether C is bounded (by `value` or by the formula with `factor`); unbounded is
    /// dropless.
    public var isBounded: Bool { value != nil || factor != nil }
    public init() {}
}

public enum CapacityScope: String, Sendable, CaseIterable { case local, global }

/// How C = ceil(T·k/E·cf) is evaluated (`Capacity.local`).
public enum CapacityRounding: String, Sendable, CaseIterable {
    /// In double precision, as (T·k/E)·cf: Megatron-Core's `get_capacity`.
    case exact
    /// As DeepSpeed's `_capacity` does: ceil(float32(T/E) · float32(cf·k)), the product
    /// rounded to float32, so C can be one higher (or lower) than `exact`.
    case float32
}

public enum Priority: String, Sendable, CaseIterable {
    /// Per expert, earlier tokens first, whatever the slot.
    case position
    /// All first choices before any second choice; within a slot earlier tokens first.
    case slotPosition = "slot_position"
    /// Per expert, higher slot weight first; ties to the earlier token.
    case score
}

public struct OverflowConfig: Sendable, Equatable {
    public var policy: OverflowPolicy = .drop
    /// Candidates a rerouted slot may consider; nil: every remaining expert.
    public var maxReroutes: Int? = nil
    public var rerouteScope: RerouteScope = .any
    /// Divide each token's surviving weights by their sum.
    public var renormalize = false
    /// With `renormalize`, divide by max(sum, this) instead of by the sum (DeepSpeed's
    /// gates clamp the sum at float32 epsilon, 2^-23). 0: by the sum itself.
    public var renormalizeEpsilon: Double = 0
    public init() {}
}

public enum OverflowPolicy: String, Sendable, CaseIterable { case drop, reroute }

public enum RerouteScope: String, Sendable, CaseIterable {
    case any
    /// Experts on the rank that holds the full expert (traffic pattern unchanged).
    case sameRank = "same_rank"
    /// Experts on the token's own rank (no communication).
    case sourceRank = "source_rank"
}

/// Placement of logical experts on ranks.
public struct PlacementConfig: Sendable, Equatable {
    public enum Base: Sendable, Equatable {
        /// Rank r holds experts [r*E/P, (r+1)*E/P), the first E mod P ranks one more.
        case contiguous
        /// Per rank, the logical experts it holds; an expert listed on several ranks
        /// has several copies.
        case explicit([[Int]])
        /// Computed for the run's world size by DeepSeek's EPLB from measured load (`EPLB`).
        case eplb(EPLBPlacement)
    }
    public var base: Base = .contiguous
    /// Extra copies on top of `base`: logical expert -> ranks that also hold it.
    public var replicas: [Replica] = []

    public struct Replica: Sendable, Equatable {
        public var expert: Int
        public var ranks: [Int]
        public init(expert: Int, ranks: [Int]) {
            self.expert = expert
            self.ranks = ranks
        }
    }
    public init() {}
}

/// `placement.kind: eplb`: the inputs of `EPLB.rebalance` besides the world size P.
public struct EPLBPlacement: Sendable, Equatable {
    /// `placement.load`: the file the load was read from, as resolved (for messages and
    /// the resolved config).
    public var file: String
    /// [E] measured load per logical expert, ≥ 0, not all 0; empty until the loader has
    /// read `file` (`ExpertLoadFile`).
    public var load: [Double]
    /// N: physical experts beyond E; E + N must be a multiple of P.
    public var redundantExperts: Int
    /// G: ranks per node (nodes = P / G); nil: every rank on one node.
    public var ranksPerNode: Int?
    /// Expert groups for the hierarchical policy (divides E); the loader sets it to
    /// `router.groups` unless `placement.groups` is given.
    public var groups: Int

    public init(file: String, load: [Double] = [], redundantExperts: Int = 0, ranksPerNode: Int? = nil, groups: Int = 1) {
        self.file = file
        self.load = load
        self.redundantExperts = redundantExperts
        self.ranksPerNode = ranksPerNode
        self.groups = groups
    }
}

/// How dispatch puts assignments on the wire (docs/semantics.md, Dispatch and combine).
public struct DispatchConfig: Sendable, Equatable {
    public var dedup: DispatchDedup = .none
    public init() {}
}

public enum DispatchDedup: String, Sendable, CaseIterable {
    /// One row per accepted (token, expert) assignment (Megatron-Core's all-to-all dispatcher).
    case none
    /// One row per (token, destination rank), with the token's local experts and weights
    /// beside it; combine sums a token's experts on their rank and returns one row (DeepEP).
    case rank
}

public enum WirePrecision: String, Sendable, CaseIterable {
    case fp32, bf16, fp16
    case fp8E4M3 = "fp8_e4m3"
}

public struct PrecisionConfig: Sendable, Equatable {
    public var dispatch: WirePrecision = .fp32
    public var combine: WirePrecision = .fp32
    public init() {}
}

public enum ComputeMode: Sendable, Equatable {
    /// Real arithmetic through BLAS.
    case real
    /// No arithmetic: charge FLOPs / (tflops * 1e12 * efficiency) seconds instead.
    case modeled(tflops: Double, efficiency: Double)

    /// `compute: modeled` without `tflops` or `efficiency`.
    public static let defaultTFLOPS = 100.0
    public static let defaultEfficiency = 0.5

    /// Whether the experts only take modeled time (no arithmetic, zero outputs).
    public var isModeled: Bool { self != .real }
}
