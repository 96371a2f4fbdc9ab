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

    init(config: SimConfig, worldSize: Int) throws(ConfigError) {
        let file = config.sourcePath
        let m = config.model, r = config.router
        let E = m.experts, k = m.topK
        precondition(worldSize > 0)
        guard E >= 1 else { throw ConfigError(file: file, keyPath: "model.experts", "expected at least 1 expert, got \(E)") }
        guard (1...E).contains(k) else {
            throw ConfigError(file: file, keyPath: "model.top_k", "expected 1...\(E) (model.experts), got \(k)")
        }
        guard m.hidden >= 1 else { throw ConfigError(file: file, keyPath: "model.hidden", "expected at least 1, got \(m.hidden)") }
        guard m.layers >= 1 else { throw ConfigError(file: file, keyPath: "model.layers", "expected at least 1, got \(m.layers)") }
        guard r.bias.isEmpty || r.bias.count == E else {
            throw ConfigError(file: file, keyPath: "router.bias",
                              "expected \(E) entries (model.experts) or none, got \(r.bias.count)")
        }
        if let bad = r.bias.first(where: { !$0.isFinite }) {
            throw ConfigError(file: file, keyPath: "router.bias", "expected finite numbers, got \(bad)")
        }
        guard r.noiseStd.isFinite && r.noiseStd >= 0 else {
            throw ConfigError(file: file, keyPath: "router.noise_std", "expected a number >= 0, got \(r.noiseStd)")
        }
        guard r.groups >= 1 && E % r.groups == 0 else {
            throw ConfigError(file: file, keyPath: "router.groups",
                              "expected a divisor of \(E) (model.experts), got \(r.groups)")
        }
        if r.groups > 1 {
            guard (1...r.groups).contains(r.groupsPerToken) else {
                throw ConfigError(file: file, keyPath: "router.groups_per_token",
                                  "expected 1...\(r.groups) (router.groups), got \(r.groupsPerToken)")
            }
            let reachable = r.groupsPerToken * (E / r.groups)
            guard k <= reachable else {
                throw ConfigError(file: file, keyPath: "router.groups_per_token",
                    "\(r.groupsPerToken) groups of \(E / r.groups) experts hold fewer than top_k = \(k) experts")
            }
        }
        var tokens: [Int] = []
        if case let .perRank(list) = config.tokens, list.count != worldSize {
            throw ConfigError(file: file, keyPath: "tokens",
                              "expected one count per rank (\(worldSize)), got \(list.count)")
        }
        for rank in 0..<worldSize {
            let t = config.tokens(rank: rank, size: worldSize)
            guard t >= 0 else { throw ConfigError(file: file, keyPath: "tokens", "expected counts >= 0, got \(t)") }
            tokens.append(t)
        }

        experts = E
        topK = k
        hidden = m.hidden
        layers = m.layers
        score = r.score
        weightMode = r.weights
        noiseStd = r.noiseStd
        bias = r.bias.isEmpty ? [Float](repeating: 0, count: E) : r.bias
        biased = r.bias.contains { $0 != 0 }
        groups = r.groups
        groupsPerToken = r.groups > 1 ? r.groupsPerToken : 1
        seed = config.seed
        routerSeed = r.seed ?? config.seed
        workload = config.workload
        self.worldSize = worldSize
        tokensPerRank = tokens
        logPrior = try RouterSpec.logPrior(config.workload, experts: E, file: file)
    }

    static func logPrior(_ workload: Workload, experts E: Int, file: String?) throws(ConfigError) -> [Double] {
        switch workload {
        case .gating, .trace:
            return []
        case .uniform:
            return [Double](repeating: 0, count: E)
        case let .zipf(s):
            guard s.isFinite else {
                throw ConfigError(file: file, keyPath: "workload.exponent", "expected a finite number, got \(s)")
            }
            let w = (0..<E).map { -s * log(Double($0 + 1)) }
            let top = w.max()!
            let logZ = top + log(w.reduce(0) { $0 + exp($1 - top) })
            return w.map { max($0 - logZ, logFloor) }
        case let .hot(hot, fraction):
            guard !hot.isEmpty else {
                throw ConfigError(file: file, keyPath: "workload.experts", "expected at least one hot expert")
            }
            for e in hot where !(0..<E).contains(e) {
                throw ConfigError(file: file, keyPath: "workload.experts", "expert \(e) is out of range 0..<\(E)")
            }
            guard Set(hot).count == hot.count else {
                throw ConfigError(file: file, keyPath: "workload.experts", "an expert is listed twice: \(hot)")
            }
            guard fraction.isFinite && (0...1).contains(fraction) else {
                throw ConfigError(file: file, keyPath: "workload.fraction", "expected a number in [0, 1], got \(fraction)")
            }
            guard hot.count < E || fraction == 1 else {
                throw ConfigError(file: file, keyPath: "workload.fraction",
                    "every expert is hot, so the fraction must be 1, got \(fraction)")
            }
            let pHot = fraction / Double(hot.count)
            let pCold = hot.count < E ? (1 - fraction) / Double(E - hot.count) : 0
            var p = [Double](repeating: pCold, count: E)
            for e in hot { p[e] = pHot }
            return p.map { $0 > 0 ? max(log($0), logFloor) : logFloor }
        }
    }

    /// The trace workload's files, if that is the workload.
    var traceFiles: [String]? {
        if case let .trace(files) = workload { return files }
        return nil
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
