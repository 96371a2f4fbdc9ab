/// The rank-local router: for the T tokens of a rank at (step, layer), produces logits,
/// scores, each token's full preference order over the E experts, its k chosen experts
/// and their slot weights (see `RouterOutput` for shapes).
///
/// Logits by workload (all seeded, independent of placement):
/// - gating: x · Wg for all T tokens in one sgemm. Wg [H × E] of layer l has entries
///   N(0, 1/H) (so logits are O(1) for N(0, 1) inputs), drawn row-major from
///   `stream(routerSeed, .gateWeights, l)`. With `router.noise_std` > 0, each logit
///   gets noise_std · N(0, 1) from `stream(routerSeed, .gateNoise, l, step, rank, token)`.
/// - uniform, zipf, hot: logit_e = log p_e + Gumbel_e (Gumbel-max trick: the first
///   choice is distributed exactly as p and the order is a sample without replacement),
///   Gumbels drawn in expert order from `stream(seed, .syntheticRouting, l, step, rank,
///   token)`, computed in Double and rounded once. uniform: p_e = 1/E; zipf(s):
///   p_e ∝ 1/(e+1)^s; hot: `fraction` split equally over the hot experts, the rest
///   equally over the others. log p is floored at -50 (probability 0 included;
///   see `RouterSpec.logFloor`). hot_rank, rotating_hotspot: the same with a hot window
///   that depends on (step, rank) (`RouterSpec.window`); lognormal: p_e = w_r / Σw / |block
///   of r| for e in rank r's contiguous block (`RouterSpec.lognormalWeights`).
/// - trace: the rank's recorded rows of the (step, layer) slab `RouterTrace.slab` picks.
/// - topk_trace: no logits: the chosen experts and weights are the trace's, `preference`
///   is those k then every other expert by index, `scores` hold each chosen slot's weight
///   at its expert and 0 elsewhere, and `logits` are 0 (docs/traces.md).
/// Every logit is checked: a NaN or infinity throws `RoutingError` naming its origin
/// (nothing is routed on it). Then score = softmax or sigmoid of the logits; experts
/// are ranked by logit (with a bias: by score + bias in Double, see `RouterKernel`);
/// preference, groups and weights as `RouterOutput` and `WeightMode` describe. The
/// bias affects choice only.
///
/// Allocates its scratch once; `route` allocates nothing. One `Router` per thread.
public struct Router: Sendable {
    let spec: RouterSpec
    let kernel: RouterKernel
    /// Per layer: Wg [H × E], row-major (gating only).
    private let gate: [[Float]]
    private let trace: RouterTrace?
    private var keys: [UInt64]
    private var merge: [UInt64]
    private var exact: [Double]
    private var groupScore: [Double]
    private var groupKept: [Bool]

    /// Whether `route` orders every expert in `RouterOutput.preference` (true), or only
    /// writes the k chosen ones, in order, leaving the rest of each row as it was (false):
    /// the capacity decider reads past the chosen experts only to reroute, so a layer
    /// whose policy drops sets it to false (`wantsFullPreference`) and skips a sort of E
    /// per token. Chosen experts, weights and scores are the same either way.
    public var fullPreference = true

    /// Whether a layer of `config` reads the full preference order (it reroutes).
    public static func wantsFullPreference(_ config: SimConfig) -> Bool { config.overflow.policy == .reroute }

    public var experts: Int { spec.experts }
    public var topK: Int { spec.topK }

    /// A router for a world of `worldSize` ranks. For the trace workload it reads the
    /// rows of `ranks` (nil: every rank); `route` accepts only those ranks.
    public init(config: SimConfig, worldSize: Int, ranks: [Int]? = nil) throws(ConfigError) {
        try self.init(config: config, worldSize: worldSize,
                      trace: RouterTrace.loadIfNeeded(config: config, worldSize: worldSize, ranks: ranks))
    }

    /// A router sharing an already loaded trace (required for the trace workload).
    public init(config: SimConfig, worldSize: Int, trace: RouterTrace?) throws(ConfigError) {
        let spec = try RouterSpec(config: config, worldSize: worldSize)
        if spec.workload.isTrace {
            precondition(trace?.experts == spec.experts, "the trace workloads need a RouterTrace with E experts")
        }
        self.spec = spec
        self.trace = trace
        kernel = RouterKernel(experts: spec.experts, topK: spec.topK, groups: spec.groups,
                              groupsPerToken: spec.groupsPerToken, score: spec.score,
                              weightMode: spec.weightMode, biased: spec.biased, firstByScore: spec.firstByScore)
        if case .gating = spec.workload {
            gate = (0..<spec.layers).map {
                Router.gateMatrix(seed: spec.routerSeed, layer: $0, hidden: spec.hidden, experts: spec.experts)
            }
        } else {
            gate = []
        }
        keys = [UInt64](repeating: 0, count: spec.experts)
        merge = [UInt64](repeating: 0, count: spec.experts)
        exact = [Double](repeating: 0, count: spec.experts)
        groupScore = [Double](repeating: 0, count: spec.groups)
        groupKept = [Bool](repeating: false, count: spec.groups)
    }

    /// Wg of `layer`: [hidden × experts], row-major, entries N(0, 1/hidden).
    public static func gateMatrix(seed: UInt64, layer: Int, hidden: Int, experts: Int) -> [Float] {
        var rng = SeededRandom.stream(seed: seed, RandomPurpose.gateWeights.rawValue, SeededRandom.key(layer))
        let scale = 1 / Double(hidden).squareRoot()
        var w = [Float](repeating: 0, count: hidden * experts)
        w.withUnsafeMutableBufferPointer { w in
            for i in 0..<w.count { w[i] = Float(rng.nextNormal() * scale) }
        }
        return w
    }

    /// Routes the tokens of `rank` at (`step`, `layer`) into `out`, which must be sized
    /// for that rank (`RouterOutput(config:rank:worldSize:)`). `inputs` is x [T × H],
    /// row-major; only the gating workload reads it (others may pass an empty buffer).
    /// Throws `RoutingError` for a non-finite logit; `out` is then partly overwritten.
    public mutating func route(
        step: Int, rank: Int, layer: Int, inputs: UnsafeBufferPointer<Float>, into out: inout RouterOutput
    ) throws(RoutingError) {
        let E = spec.experts, T = out.tokens
        precondition((0..<spec.worldSize).contains(rank) && (0..<spec.layers).contains(layer))
        precondition(T == spec.tokensPerRank[rank], "output sized for \(T) tokens, rank \(rank) has \(spec.tokensPerRank[rank])")
        precondition(out.experts == E && out.topK == spec.topK)
        if case .topkTrace = spec.workload {
            trace!.replayTopK(step: step, rank: rank, layer: layer, into: &out)
            return
        }
        // One token's Gumbel draws [E] (on the stack unless E is large).
        try withUnsafeTemporaryAllocation(of: Double.self, capacity: E) { (draws) throws(RoutingError) in
            try out.logits.withUnsafeMutableBufferPointer { (logits) throws(RoutingError) in
                try fillLogits(logits, tokens: T, step: step, rank: rank, layer: layer, inputs: inputs,
                               draws: draws.baseAddress!)
            }
        }
        let kernel = self.kernel
        keys.withUnsafeMutableBufferPointer { keys in
        merge.withUnsafeMutableBufferPointer { merge in
        exact.withUnsafeMutableBufferPointer { exact in
        groupScore.withUnsafeMutableBufferPointer { groupScore in
        groupKept.withUnsafeMutableBufferPointer { groupKept in
        spec.bias.withUnsafeBufferPointer { bias in
        out.logits.withUnsafeBufferPointer { logits in
        out.scores.withUnsafeMutableBufferPointer { scores in
        out.preference.withUnsafeMutableBufferPointer { preference in
        out.chosen.withUnsafeMutableBufferPointer { chosen in
        out.weights.withUnsafeMutableBufferPointer { weights in
            kernel.run(tokens: T, logits: logits, bias: bias, scores: scores, preference: preference,
                       chosen: chosen, weights: weights, fullPreference: fullPreference,
                       scratch: .init(keys: keys, merge: merge, exact: exact, groupScore: groupScore,
                                      groupKept: groupKept))
        }}}}}}}}}}}
    }

    /// Array form of `route` (no copy of the inputs).
    public mutating func route(
        step: Int, rank: Int, layer: Int, inputs: [Float], into out: inout RouterOutput
    ) throws(RoutingError) {
        try inputs.withUnsafeBufferPointer { (x) throws(RoutingError) in
            try route(step: step, rank: rank, layer: layer, inputs: x, into: &out)
        }
    }

    private func fillLogits(
        _ logits: UnsafeMutableBufferPointer<Float>, tokens T: Int, step: Int, rank: Int, layer: Int,
        inputs: UnsafeBufferPointer<Float>, draws: UnsafeMutablePointer<Double>
    ) throws(RoutingError) {
        let E = spec.experts
        let layerKey = SeededRandom.key(layer), stepKey = SeededRandom.key(step), rankKey = SeededRandom.key(rank)
        switch spec.workload {
        case .gating:
            let H = spec.hidden
            precondition(inputs.count >= T * H, "inputs hold \(inputs.count) floats, need T*H = \(T * H)")
            gate[layer].withUnsafeBufferPointer { wg in
                BLAS.sgemm(m: T, n: E, k: H, inputs, wg, logits)
            }
            if let i = RoutingError.firstNonFinite(UnsafeBufferPointer(rebasing: logits[..<(T * E)])) {
                let row = UnsafeBufferPointer(rebasing: inputs[((i / E) * H)..<((i / E + 1) * H)])
                throw RoutingError(value: logits[i], layer: layer, rank: rank, token: i / E, expert: i % E,
                                   source: .gatingProduct(inputFinite: RoutingError.firstNonFinite(row) == nil))
            }
            guard spec.noiseStd > 0 else { return }
            let noise = RandomPurpose.gateNoise.rawValue
            for t in 0..<T {
                var rng = SeededRandom.stream(seed: spec.routerSeed, noise, layerKey, stepKey, rankKey,
                                              SeededRandom.key(t))
                for e in 0..<E {
                    let v = logits[t * E + e] + Float(spec.noiseStd * rng.nextNormal())
                    guard v.isFinite else {
                        throw RoutingError(value: v, layer: layer, rank: rank, token: t, expert: e,
                                           source: .gatingNoise(std: spec.noiseStd))
                    }
                    logits[t * E + e] = v
                }
            }
            return
        case .hotRank, .rotatingHotspot:
            let purpose = RandomPurpose.syntheticRouting.rawValue
            let w = spec.window(step: step, rank: rank)!
            for t in 0..<T {
                var rng = SeededRandom.stream(seed: spec.seed, purpose, layerKey, stepKey, rankKey, SeededRandom.key(t))
                rng.fillGumbels(draws, count: E)
                for e in 0..<E {
                    let isHot = (e - w.start + E) % E < w.count
                    logits[t * E + e] = Float((isHot ? w.hot : w.cold) + draws[e])
                }
            }
        case .uniform, .zipf, .hot, .lognormal:
            let purpose = RandomPurpose.syntheticRouting.rawValue
            spec.logPrior.withUnsafeBufferPointer { logP in
                for t in 0..<T {
                    var rng = SeededRandom.stream(seed: spec.seed, purpose, layerKey, stepKey, rankKey,
                                                  SeededRandom.key(t))
                    rng.fillGumbels(draws, count: E)
                    for e in 0..<E { logits[t * E + e] = Float(logP[e] + draws[e]) }
                }
            }
        case .trace:
            guard let trace, let rows = trace.logitsByRank[rank] else {
                preconditionFailure("trace rows of rank \(rank) were not loaded")
            }
            let start = trace.slab(step: step, layer: layer) * T * E
            rows.withUnsafeBufferPointer { rows in
                _ = logits.update(fromContentsOf: UnsafeBufferPointer(rebasing: rows[start..<(start + T * E)]))
            }
        case .topkTrace:
            preconditionFailure("a top-k trace has no logits")
        }
        // Synthetic and trace logits: finite by construction (Gumbel draws, the log floor)
        // or by the trace loader's check; checked all the same.
        if let i = RoutingError.firstNonFinite(UnsafeBufferPointer(rebasing: logits[..<(T * E)])) {
            throw RoutingError(value: logits[i], layer: layer, rank: rank, token: i / E, expert: i % E,
                               source: spec.logitSource(rank: rank, token: i / E))
        }
    }
}
