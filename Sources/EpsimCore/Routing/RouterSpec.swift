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
        logPrior = RouterSpec.logPrior(config.workload, experts: E)
    }

    /// log p_e of a synthetic workload's prior, for a workload `ConfigValidator` accepted.
    static func logPrior(_ workload: Workload, experts E: Int) -> [Double] {
        switch workload {
        case .gating, .trace:
            return []
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

    /// Where a logit of token `t` of `rank` came from (see `RouterTrace` for which rows
    /// a rank replays); `inputFinite` matters for the gating product only.
    func logitSource(rank: Int, token t: Int, inputFinite: Bool = true) -> RoutingError.Source {
        switch workload {
        case .gating:
            return .gatingProduct(inputFinite: inputFinite)
        case let .trace(files):
            if files.count == 1 { return .trace(file: files[0], row: tokensPerRank[..<rank].reduce(0, +) + t) }
            return .trace(file: files[rank], row: t)
        case .uniform, .zipf, .hot:
            return .synthetic(workload.name)
        }
    }
}
