#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The router's parameters, resolved from a `SimConfig` and checked once; shared by
/// `Router` and `ReferenceRouter` (data only: each computes with its own code).
struct RouterSpec: Sendable {
    let experts: Int
    let topK: Int
    let hidden: Int
    let layers: Int
    let score: ScoreFunction
    let weightMode: WeightMode
    let noiseStd: Double
    /// E entries (zeros when the config has no bias).
    let bias: [Float]
    /// Some bias entry is nonzero: experts are ranked by score + bias computed in
    /// Double (equal values by logit); otherwise by the logit itself.
    let biased: Bool
    /// `router.first_choice: float32_score`: the first choice is the lowest-index
    /// expert of the highest float32 score (no bias, no groups: `ConfigValidator`).
    let firstByScore: Bool
    /// G (1: group-limited routing off).
    let groups: Int
    let groupsPerToken: Int
    /// Seeds synthetic routing (`SimConfig.seed`).
    let seed: UInt64
    /// Seeds Wg and the gating noise (`router.seed`, else `SimConfig.seed`).
    let routerSeed: UInt64
    let workload: Workload
    /// Synthetic workloads: log p_e of the prior (uniform: all 0), floored at
    /// `logFloor`; empty for gating and trace.
    let logPrior: [Double]
    let worldSize: Int
    let tokensPerRank: [Int]

    /// The least log p (p = e^-50 ≈ 2e-22), used for probability 0. Such an expert is a
    /// first choice about once in 10^21 tokens, while its scores stay distinct nonzero
    /// floats (e^-50 relative), so experts of probability 0 are still ordered at random
    /// among themselves further down the preference. A lower floor would underflow
    /// their scores to a tie and order them by index.
    static let logFloor = -50.0

    /// Checks `config` on `worldSize` ranks with `ConfigValidator` (the loader's checks,
    /// so a config built in code is held to the same ranges and rules), then resolves it.
    init(config: SimConfig, worldSize: Int) throws(ConfigError) {
        precondition(worldSize > 0)
        try ConfigValidator.check(config, worldSize: worldSize)
        let m = config.model, r = config.router
        let E = m.experts, k = m.topK
        experts = E
        topK = k
        hidden = m.hidden
        layers = m.layers
        score = r.score
        weightMode = r.weights
        noiseStd = r.noiseStd
        bias = r.bias.isEmpty ? [Float](repeating: 0, count: E) : r.bias
        biased = r.bias.contains { $0 != 0 }
        firstByScore = r.firstChoice == .float32Score
        groups = r.groups
        groupsPerToken = r.groups > 1 ? r.groupsPerToken : 1
        seed = config.seed
        routerSeed = r.seed ?? config.seed
        workload = config.workload
        self.worldSize = worldSize
        tokensPerRank = (0..<worldSize).map { config.tokens(rank: $0, size: worldSize) }
        logPrior = RouterSpec.logPrior(config.workload, experts: E, worldSize: worldSize, seed: config.seed)
        hotRankBlock = {
            guard case let .hotRank(rank, _, _) = config.workload else { return 0..<0 }
            let lists = ExpertLayout.contiguousLists(experts: E, ranks: worldSize)
            return lists[rank].first!..<(lists[rank].last! + 1)
        }()
    }

    /// hot_rank: the hot rank's contiguous block of experts; empty otherwise.
    let hotRankBlock: Range<Int>

    /// The moving-window workloads (hot_rank, rotating_hotspot) at (`step`, `rank`): the
    /// hot experts are (`start` + j) mod E for j < `count`, with log p `hot` each, the
    /// others `cold`. Nil for the workloads whose prior is `logPrior`.
    func window(step: Int, rank: Int) -> (start: Int, count: Int, hot: Double, cold: Double)? {
        let E = experts
        func logs(_ count: Int, _ fraction: Double) -> (Double, Double) {
            (max(log(fraction / Double(count)), RouterSpec.logFloor),
             max(log((1 - fraction) / Double(E - count)), RouterSpec.logFloor))
        }
        switch workload {
        case let .hotRank(_, fraction, sources):
            guard sources.isEmpty || sources.contains(rank) else { return (0, 0, 0, -log(Double(E))) }
            let (hot, cold) = logs(hotRankBlock.count, fraction)
            return (hotRankBlock.lowerBound, hotRankBlock.count, hot, cold)
        case let .rotatingHotspot(count, fraction, period):
            let (hot, cold) = logs(count, fraction)
            let moves = step / period
            return (Int((UInt64(moves) % UInt64(E)) * UInt64(count) % UInt64(E)), count, hot, cold)
        default:
            return nil
        }
    }

    /// lognormal: [P] the per-rank weights w_r = exp(σ · Z_r), Z_r ~ N(0, 1) drawn in rank
    /// order from `stream(seed, .syntheticRouting, 2^64 − 1)` (a key no layer uses), so
    /// they are a function of (seed, σ, P) only, the same in every step and layer.
    public static func lognormalWeights(sigma: Double, ranks P: Int, seed: UInt64) -> [Double] {
        var rng = SeededRandom.stream(seed: seed, RandomPurpose.syntheticRouting.rawValue, UInt64.max)
        return (0..<P).map { _ in exp(sigma * rng.nextNormal()) }
    }

    /// log p_e of a synthetic workload's prior, for a workload `ConfigValidator` accepted.
    static func logPrior(_ workload: Workload, experts E: Int, worldSize P: Int, seed: UInt64) -> [Double] {
        switch workload {
        case .gating, .trace, .topkTrace, .hotRank, .rotatingHotspot:
            return []
        case let .lognormal(sigma):
            // Rank r's block shares w_r / Σw equally.
            let w = lognormalWeights(sigma: sigma, ranks: P, seed: seed)
            let total = w.reduce(0, +)
            var p = [Double](repeating: 0, count: E)
            for (r, list) in ExpertLayout.contiguousLists(experts: E, ranks: P).enumerated() {
                for e in list { p[e] = w[r] / total / Double(list.count) }
            }
            // Ranks past E hold no experts; their weight is not re-spread (p sums to < 1,
            // which the Gumbel-max sampling does not need).
            return p.map { $0 > 0 ? max(log($0), logFloor) : logFloor }
        case .uniform:
            return [Double](repeating: 0, count: E)
        case let .zipf(s):
            let w = (0..<E).map { -s * log(Double($0 + 1)) }
            let top = w.max()!
            let logZ = top + log(w.reduce(0) { $0 + exp($1 - top) })
            return w.map { max($0 - logZ, logFloor) }
        case let .hot(hot, fraction):
            // At least one expert stays cold, and 0 < fraction < 1.
            let pHot = fraction / Double(hot.count)
            let pCold = (1 - fraction) / Double(E - hot.count)
            var p = [Double](repeating: pCold, count: E)
            for e in hot { p[e] = pHot }
            return p.map { $0 > 0 ? max(log($0), logFloor) : logFloor }
        }
    }

    /// Where a logit of token `t` of `rank` came from (for a trace, the row of the first
    /// slab; `RouterTrace` refuses non-finite logits as it reads them, naming the step and
    /// layer); `inputFinite` matters for the gating product only.
    func logitSource(rank: Int, token t: Int, inputFinite: Bool = true) -> RoutingError.Source {
        switch workload {
        case .gating:
            return .gatingProduct(inputFinite: inputFinite)
        case let .trace(files, _), let .topkTrace(files, _, _):
            if files.count == 1 { return .trace(file: files[0], row: tokensPerRank[..<rank].reduce(0, +) + t) }
            return .trace(file: files[rank], row: t)
        case .uniform, .zipf, .hot, .hotRank, .rotatingHotspot, .lognormal:
            return .synthetic(workload.name)
        }
    }
}
