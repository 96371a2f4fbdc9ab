import EpsimCore

/// The result of `--verify`: the distributed step against the single-process reference.
public struct Verification: Sendable {
    /// Every (rank, token, slot) has the same final expert and outcome as the reference.
    public var decisionsMatch: Bool
    /// max |distributed − reference| over every output element, divided by the largest
    /// magnitude of the reference's MoE contribution (output − input), over all layers.
    public var maxRelError: Double
    /// The bound `maxRelError` must stay under for the wire precisions in use.
    public var tolerance: Double
    public var step: Int
    public var layers: Int
    /// First mismatching decision, if any.
    public var firstMismatch: String?

    public var passed: Bool { decisionsMatch && maxRelError <= tolerance }

    public var summary: String {
        "decisions_match \(decisionsMatch)" + (firstMismatch.map { " (\($0))" } ?? "")
            + ", max_rel_error \(maxRelError) (tolerance \(tolerance))"
    }

    /// Tolerance for the wire precisions. fp32: 1e-5 (only summation order and sgemm
    /// blocking differ). Otherwise 2 × (u_dispatch + u_combine), u the precision's unit
    /// roundoff (bf16 2^-8, fp16 2^-11, fp8 e4m3 2^-4 of the row's largest entry): each
    /// element crosses the wire once each way with one rounding of at most u. Measured on
    /// configs/default.yaml (4 ranks): bf16 0.0029, fp16 0.00041, fp8 0.039, i.e. 0.3 to
    /// 0.4 × (u_dispatch + u_combine), so the bound has 5× headroom.
    public static func tolerance(_ p: PrecisionConfig) -> Double {
        let u = Double(WireCodec.unitRoundoff(p.dispatch) + WireCodec.unitRoundoff(p.combine))
        return u == 0 ? 1e-5 : 2 * u
    }
}

/// Gathers one step's inputs, decisions and outputs of every layer to rank 0 and checks
/// them against the reference there: `ReferenceRouter` on the same layer inputs,
/// `ReferenceDecisions`, and dense per-token expert calls (`ExpertReference`) in Double.
/// Layer l > 0 is checked on the distributed run's own input to it (the previous
/// layer's output), so that a last-bit difference in one layer cannot flip a routing
/// choice in the next one.
public enum Verifier {
    public static func verify(_ stage: MoERank, step: Int, transport: any Transport) throws -> Verification? {
        let c = stage.config, L = c.model.layers, P = transport.size
        var layerInputs: [[[Float]]] = []   // [layer + 1][rank] rows
        var finals: [[[Int32]]] = []        // [layer][rank]
        var outcomes: [[[UInt8]]] = []
        for l in 0...L {
            layerInputs.append(try gather(stage.inputs[l].values, transport))
            if l < L {
                finals.append(try gather(stage.decisions[l].finalExpert, transport))
                outcomes.append(try gather(stage.decisions[l].outcome.map(\.rawValue), transport))
            }
        }
        guard transport.rank == 0 else { return nil }

        let router = try ReferenceRouter(config: c, worldSize: P)
        var mismatch: String? = nil
        var maxError = 0.0, maxMagnitude = 0.0
        for l in 0..<L {
            let routed = (0..<P).map { router.route(step: step, rank: $0, layer: l, inputs: layerInputs[l][$0]) }
            let choices = routed.map {
                RankChoices(tokens: $0.tokens, preference: $0.preference, chosen: $0.chosen, weights: $0.weights)
            }
            let reference = ReferenceDecisions.decide(config: c, layout: stage.layout, ranks: choices)
            for r in 0..<P where mismatch == nil {
                let ref = reference[r]
                if let a = (0..<ref.assignments).first(where: {
                    ref.finalExpert[$0] != finals[l][r][$0] || ref.outcome[$0].rawValue != outcomes[l][r][$0]
                }) {
                    mismatch = "layer \(l) rank \(r) token \(a / c.model.topK) slot \(a % c.model.topK)"
                }
            }
            let (error, magnitude) = compareOutputs(layer: l, config: c, decisions: reference,
                                                    x: layerInputs[l], y: layerInputs[l + 1])
            maxError = max(maxError, error)
            maxMagnitude = max(maxMagnitude, magnitude)
        }
        return Verification(decisionsMatch: mismatch == nil,
                            maxRelError: maxMagnitude > 0 ? maxError / maxMagnitude : maxError,
                            tolerance: Verification.tolerance(c.precision), step: step, layers: L,
                            firstMismatch: mismatch)
    }

    /// Largest absolute difference between the distributed output and the reference,
    /// and the largest magnitude of the reference's MoE contribution.
    private static func compareOutputs(layer: Int, config c: SimConfig, decisions: [RoutingDecisions],
                                       x: [[Float]], y: [[Float]]) -> (Double, Double) {
        let m = c.model, H = m.hidden, k = m.topK
        var real = false
        if case .real = c.compute { real = true }
        let routedWeights = real ? (0..<m.experts).map { ExpertWeights(seed: c.seed, layer: layer, expert: $0, model: m) } : []
        let sharedWeights = real ? (0..<m.sharedExperts).map { ExpertWeights(seed: c.seed, layer: layer, shared: $0, model: m) } : []
        var maxError = 0.0, maxMagnitude = 0.0
        for (r, d) in decisions.enumerated() {
            for t in 0..<d.tokens {
                let row = x[r][(t * H)..<((t + 1) * H)]
                var moe = [Double](repeating: 0, count: H)
                for w in sharedWeights {
                    let out = ExpertReference.apply(w, token: row)
                    for j in 0..<H { moe[j] += out[j] }
                }
                for j in 0..<k where d.finalExpert[t * k + j] >= 0 && real {
                    let out = ExpertReference.apply(routedWeights[Int(d.finalExpert[t * k + j])], token: row)
                    let weight = Double(d.weight[t * k + j])
                    for h in 0..<H { moe[h] += weight * out[h] }
                }
                for h in 0..<H {
                    let reference = Double(row[row.startIndex + h]) + moe[h]
                    maxError = max(maxError, abs(Double(y[r][t * H + h]) - reference))
                    maxMagnitude = max(maxMagnitude, abs(moe[h]))
                }
            }
        }
        return (maxError, maxMagnitude)
    }

    /// Gathers every rank's array to rank 0 (empty elsewhere).
    private static func gather<T: BitwiseCopyable>(_ values: [T], _ transport: any Transport) throws -> [[T]] {
        let bytes = values.withUnsafeBytes { Array($0) }
        return try transport.gatherBytes(bytes, root: 0).map { piece in
            piece.withUnsafeBytes { raw in Array(raw.bindMemory(to: T.self)) }
        }
    }
}
