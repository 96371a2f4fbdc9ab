#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An obviously-correct router beside `Router`: plain arrays, one token at a time,
/// library sorting. It shares with `Router` only the checked parameters, the gate
/// matrix (`Router.gateMatrix`) and the gating product, which both take from one sgemm
/// over all T tokens (a naive dot product rounds differently, and fp32 routing decisions
/// must match bitwise); tests check that product against a Double dot product separately.
///
/// Ranking, written out plainly: without a bias, by logit descending; with a bias, by
/// score + bias computed in Double from the logits, then by logit; equal logits to the
/// lower index. Group scores sum each group's top-2 of those Double values.
public struct ReferenceRouter: Sendable {
    let spec: RouterSpec
    private let trace: RouterTrace?

    public init(config: SimConfig, worldSize: Int, ranks: [Int]? = nil) throws(ConfigError) {
        try self.init(config: config, worldSize: worldSize,
                      trace: RouterTrace.loadIfNeeded(config: config, worldSize: worldSize, ranks: ranks))
    }

    public init(config: SimConfig, worldSize: Int, trace: RouterTrace?) throws(ConfigError) {
        spec = try RouterSpec(config: config, worldSize: worldSize)
        self.trace = trace
    }

    /// Routes the tokens of `rank` at (`step`, `layer`); `inputs` is x [T × H] (gating only).
    /// Throws `RoutingError` for a non-finite logit, as `Router` does.
    public func route(step: Int, rank: Int, layer: Int, inputs: [Float] = []) throws(RoutingError) -> RouterOutput {
        let E = spec.experts, k = spec.topK, T = spec.tokensPerRank[rank]
        var out = RouterOutput(tokens: T, experts: E, topK: k)
        if case .topkTrace = spec.workload, let trace {
            // The recorded choices and weights; the other experts follow by index.
            let start = trace.slab(step: step, layer: layer) * T * k
            for t in 0..<T {
                let chosen = Array(trace.expertsByRank[rank]![(start + t * k)..<(start + (t + 1) * k)])
                let w = Array(trace.weightsByRank[rank]![(start + t * k)..<(start + (t + 1) * k)])
                let pref = chosen + (0..<E).map { Int32($0) }.filter { !chosen.contains($0) }
                var s = [Float](repeating: 0, count: E)
                for (j, e) in chosen.enumerated() { s[Int(e)] = w[j] }
                out.scores.replaceSubrange((t * E)..<((t + 1) * E), with: s)
                out.preference.replaceSubrange((t * E)..<((t + 1) * E), with: pref)
                out.chosen.replaceSubrange((t * k)..<((t + 1) * k), with: chosen)
                out.weights.replaceSubrange((t * k)..<((t + 1) * k), with: w)
            }
            return out
        }
        let allLogits = try logits(step: step, rank: rank, layer: layer, inputs: inputs)
        for t in 0..<T {
            let l = Array(allLogits[(t * E)..<((t + 1) * E)])
            let s = scores(l)
            let exact = exactScores(l)
            let key = (0..<E).map { exact[$0] + Double(spec.bias[$0]) }
            let byKey = Array(0..<E).sorted { a, b in
                if spec.biased && key[a] != key[b] { return key[a] > key[b] }
                if l[a] != l[b] { return l[a] > l[b] }
                return a < b
            }
            var pref = spec.groups > 1 ? groupLimited(byKey, key) : byKey
            if spec.firstByScore, let top = s.max(), let first = s.firstIndex(of: top) {
                // DeepSpeed's torch.argmax over the float32 probabilities.
                pref = [first] + pref.filter { $0 != first }
            }
            let chosen = Array(pref.prefix(k))
            let w = weights(chosen: chosen, logits: l, scores: s)
            out.logits.replaceSubrange((t * E)..<((t + 1) * E), with: l)
            out.scores.replaceSubrange((t * E)..<((t + 1) * E), with: s)
            out.preference.replaceSubrange((t * E)..<((t + 1) * E), with: pref.map { Int32($0) })
            out.chosen.replaceSubrange((t * k)..<((t + 1) * k), with: chosen.map { Int32($0) })
            out.weights.replaceSubrange((t * k)..<((t + 1) * k), with: w)
        }
        return out
    }

    /// The logits [T × E] of `rank`, each checked to be finite.
    func logits(step: Int, rank: Int, layer: Int, inputs: [Float]) throws(RoutingError) -> [Float] {
        let E = spec.experts, T = spec.tokensPerRank[rank]
        let keys = [UInt64(bitPattern: Int64(layer)), UInt64(bitPattern: Int64(step)), UInt64(bitPattern: Int64(rank))]
        switch spec.workload {
        case .gating:
            let H = spec.hidden
            precondition(inputs.count == T * H)
            // Wg [H × E] row-major, N(0, 1/H): the very matrix `Router` uses.
            let wg = Router.gateMatrix(seed: spec.routerSeed, layer: layer, hidden: H, experts: E)
            var logits = [Float](repeating: 0, count: T * E)
            inputs.withUnsafeBufferPointer { x in
                wg.withUnsafeBufferPointer { w in
                    logits.withUnsafeMutableBufferPointer { BLAS.sgemm(m: T, n: E, k: H, x, w, $0) }
                }
            }
            if let i = logits.firstIndex(where: { !$0.isFinite }) {
                let row = inputs[((i / E) * H)..<((i / E + 1) * H)]
                throw RoutingError(value: logits[i], layer: layer, rank: rank, token: i / E, expert: i % E,
                                   source: .gatingProduct(inputFinite: row.allSatisfy(\.isFinite)))
            }
            if spec.noiseStd > 0 {
                for t in 0..<T {
                    var noise = SeededRandom.stream(seed: spec.routerSeed, RandomPurpose.gateNoise.rawValue,
                                                    keys[0], keys[1], keys[2], UInt64(t))
                    for e in 0..<E {
                        logits[t * E + e] += Float(spec.noiseStd * noise.nextNormal())
                        if !logits[t * E + e].isFinite {
                            throw RoutingError(value: logits[t * E + e], layer: layer, rank: rank, token: t, expert: e,
                                               source: .gatingNoise(std: spec.noiseStd))
                        }
                    }
                }
            }
            return logits
        case .uniform, .zipf, .hot, .lognormal, .hotRank, .rotatingHotspot:
            let prior = plainPrior(step: step, rank: rank)
            var logits: [Float] = []
            for t in 0..<T {
                var rng = SeededRandom.stream(seed: spec.seed, RandomPurpose.syntheticRouting.rawValue,
                                              keys[0], keys[1], keys[2], UInt64(t))
                for e in 0..<E { logits.append(Float(prior[e] + rng.nextGumbel())) }
            }
            return try checked(logits, rank: rank, layer: layer)
        case .trace:
            let start = trace!.slab(step: step, layer: layer) * T * E
            return try checked(Array(trace!.logitsByRank[rank]![start..<(start + T * E)]), rank: rank, layer: layer)
        case .topkTrace:
            preconditionFailure("a top-k trace has no logits")
        }
    }

    /// log p_e at (step, rank), written out from the definitions in `Workload`: the static
    /// prior, or for hot_rank and rotating_hotspot the hot set listed expert by expert.
    private func plainPrior(step: Int, rank: Int) -> [Double] {
        let E = spec.experts
        func prior(hot: Set<Int>, fraction: Double) -> [Double] {
            (0..<E).map { e in
                let p = hot.contains(e) ? fraction / Double(hot.count) : (1 - fraction) / Double(E - hot.count)
                return max(log(p), RouterSpec.logFloor)
            }
        }
        switch spec.workload {
        case let .hotRank(hotRank, fraction, sources):
            guard sources.isEmpty || sources.contains(rank) else { return [Double](repeating: -log(Double(E)), count: E) }
            return prior(hot: Set(ExpertLayout.contiguousLists(experts: E, ranks: spec.worldSize)[hotRank]), fraction: fraction)
        case let .rotatingHotspot(count, fraction, period):
            let start = (step / period) * count
            return prior(hot: Set((0..<count).map { (start + $0) % E }), fraction: fraction)
        default:
            return spec.logPrior
        }
    }

    private func checked(_ logits: [Float], rank: Int, layer: Int) throws(RoutingError) -> [Float] {
        let E = spec.experts
        if let i = logits.firstIndex(where: { !$0.isFinite }) {
            throw RoutingError(value: logits[i], layer: layer, rank: rank, token: i / E, expert: i % E,
                               source: spec.logitSource(rank: rank, token: i / E))
        }
        return logits
    }

    /// Score + 0 in Double from the logits [E]: softmax with the sum in expert order, or
    /// sigmoid (the bias is added by the caller).
    func exactScores(_ l: [Float]) -> [Double] {
        let z = l.map { Double($0) }
        switch spec.score {
        case .softmax:
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        case .sigmoid:
            return z.map { 1 / (1 + exp(-$0)) }
        }
    }

    func scores(_ l: [Float]) -> [Float] {
        switch spec.score {
        case .softmax:
            let m = l.max()!
            let e = l.map { exp($0 - m) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        case .sigmoid:
            return l.map { 1 / (1 + exp(-$0)) }
        }
    }

    /// The k best experts inside the best `groupsPerToken` groups, then all the others,
    /// each part in `byKey` order.
    func groupLimited(_ byKey: [Int], _ key: [Double]) -> [Int] {
        let size = spec.experts / spec.groups
        let groupScore = (0..<spec.groups).map { g -> Double in
            let top = key[(g * size)..<((g + 1) * size)].sorted(by: >)
            return size >= 2 ? top[0] + top[1] : top[0]
        }
        let kept = Set(Array(0..<spec.groups)
            .sorted { groupScore[$0] > groupScore[$1] || (groupScore[$0] == groupScore[$1] && $0 < $1) }
            .prefix(spec.groupsPerToken))
        let chosen = Array(byKey.filter { kept.contains($0 / size) }.prefix(spec.topK))
        return chosen + byKey.filter { !chosen.contains($0) }
    }

    /// The slot weights, in float32 with the operations in the order the fast path
    /// uses (max, exp, sum in slot order, divide): capacity's `score` priority orders
    /// assignments by these weights, so both must hold the same bits, or two tokens
    /// whose weights differ in the last place could be admitted in different orders.
    func weights(chosen: [Int], logits l: [Float], scores s: [Float]) -> [Float] {
        switch spec.weightMode {
        case .softmaxTopK:
            let z = chosen.map { l[$0] }
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let sum = e.reduce(Float(0), +)
            return e.map { $0 / sum }
        case .normalized:
            let p = chosen.map { s[$0] }
            let sum = p.reduce(Float(0), +)
            return sum > 0 ? p.map { $0 / sum } : p.map { _ in 1 / Float(chosen.count) }
        case .raw:
            return chosen.map { s[$0] }
        }
    }
}
