import EpsimCore

/// What `--verify` compares, as gathered on rank 0 for one step: every rank's layer
/// inputs and decisions. Per rank r: rows are [T_r × H] row-major, decisions [T_r × k]
/// (assignment a = t·k + j).
public struct VerificationInput: Sendable {
    public var step: Int
    /// [L + 1][P]: x_l, the input of layer l; [L][P] is the stack's output.
    public var rows: [[[Float]]]
    /// [L][P]: the final expert of every assignment, -1 if dropped.
    public var finalExpert: [[[Int32]]]
    /// [L][P]: `Outcome.rawValue` of every assignment.
    public var outcome: [[[UInt8]]]

    public init(step: Int, rows: [[[Float]]], finalExpert: [[[Int32]]], outcome: [[[UInt8]]]) {
        self.step = step
        self.rows = rows
        self.finalExpert = finalExpert
        self.outcome = outcome
    }
}

extension Verifier {
    /// Routed expert `expert` of `layer` as the reference computes it.
    public typealias ExpertSource = (_ layer: Int, _ expert: Int) -> ExpertWeights

    /// Checks one gathered step against the single-process reference. For every layer l,
    /// on the distributed run's own input x_l (so a last-bit difference in one layer
    /// cannot flip a routing choice in the next): `ReferenceRouter` on RMSNorm(x_l)
    /// (`RMSNorm`, the same rows the layer routed), `ReferenceDecisions`, then per token
    /// x + Σ_shared FFN(RMSNorm(x)) + Σ_slots w · FFN_e(RMSNorm(x)) in Double
    /// (`ExpertReference`), against x_{l+1}.
    ///
    /// A NaN or infinity on either side (any distributed row, a reference logit or a
    /// reference output) fails: `nonFinite` names the first one, `maxRelError` is
    /// infinite, and later layers are not checked. `expertWeights` replaces the seeded
    /// routed experts (tests use it to alter one). Throws only what building the
    /// reference router throws (`ConfigError`, e.g. an unreadable trace).
    public static func check(_ input: VerificationInput, config c: SimConfig, layout: ExpertLayout,
                             expertWeights: ExpertSource? = nil) throws -> Verification {
        let L = c.model.layers, H = c.model.hidden, k = c.model.topK, P = input.rows[0].count
        precondition(input.rows.count == L + 1 && input.finalExpert.count == L && input.outcome.count == L)
        let router = try ReferenceRouter(config: c, worldSize: P)
        var mismatch: String? = nil, nonFinite = firstNonFinite(input.rows[0], hidden: H, what: "input of layer 0")
        var maxError = 0.0, maxMagnitude = 0.0
        for l in 0..<L where nonFinite == nil {
            let normed = input.rows[l].map { RMSNorm.apply($0, hidden: H) }
            let routed: [RouterOutput]
            do {
                routed = try (0..<P).map { r throws(RoutingError) in
                    try router.route(step: input.step, rank: r, layer: l, inputs: normed[r])
                }
            } catch {
                nonFinite = "reference \(error)"
                break
            }
            let reference = ReferenceDecisions.decide(config: c, layout: layout, ranks: routed.map {
                RankChoices(tokens: $0.tokens, preference: $0.preference, chosen: $0.chosen, weights: $0.weights)
            })
            for r in 0..<P where mismatch == nil {
                let ref = reference[r], finals = input.finalExpert[l][r], outcomes = input.outcome[l][r]
                if let a = (0..<ref.assignments).first(where: {
                    ref.finalExpert[$0] != finals[$0] || ref.outcome[$0].rawValue != outcomes[$0]
                }) {
                    mismatch = "layer \(l) rank \(r) token \(a / k) slot \(a % k)"
                }
            }
            let weights = expertWeights ?? { ExpertWeights(seed: c.seed, layer: $0, expert: $1, model: c.model) }
            let compared = compareOutputs(layer: l, config: c, decisions: reference, weights: weights,
                                          x: input.rows[l], normed: normed, y: input.rows[l + 1])
            maxError = max(maxError, compared.error)
            maxMagnitude = max(maxMagnitude, compared.magnitude)
            nonFinite = compared.nonFinite
        }
        let relative = nonFinite != nil ? Double.infinity : maxMagnitude > 0 ? maxError / maxMagnitude : maxError
        return Verification(decisionsMatch: mismatch == nil, maxRelError: relative,
                            tolerance: Verification.tolerance(c.precision), step: input.step, layers: L,
                            firstMismatch: mismatch, nonFinite: nonFinite)
    }

    /// Over finite elements: the largest |y − reference| and the largest magnitude of the
    /// reference's MoE contribution; and the first non-finite element on either side.
    private static func compareOutputs(
        layer: Int, config c: SimConfig, decisions: [RoutingDecisions], weights: ExpertSource,
        x: [[Float]], normed: [[Float]], y: [[Float]]
    ) -> (error: Double, magnitude: Double, nonFinite: String?) {
        let m = c.model, H = m.hidden, k = m.topK
        var real = false
        if case .real = c.compute { real = true }
        let routedWeights = real ? (0..<m.experts).map { weights(layer, $0) } : []
        let sharedWeights = real ? (0..<m.sharedExperts).map { ExpertWeights(seed: c.seed, layer: layer, shared: $0, model: m) } : []
        var maxError = 0.0, maxMagnitude = 0.0
        for (r, d) in decisions.enumerated() {
            for t in 0..<d.tokens {
                let row = normed[r][(t * H)..<((t + 1) * H)]
                var moe = [Double](repeating: 0, count: H)
                for w in sharedWeights {
                    let out = ExpertReference.apply(w, token: row)
                    for j in 0..<H { moe[j] += out[j] }
                }
                // A routed expert sees the row as it arrives over the wire, and its output
                // comes back the same way: the reference rounds both as the wire formats do
                // (`WireCodec`), so the comparison measures the layer, not the format.
                let sent = c.precision.dispatch == .fp32 ? Array(row) : wireRoundTrip(c.precision.dispatch, Array(row))
                for j in 0..<k where d.finalExpert[t * k + j] >= 0 && real {
                    var out = ExpertReference.apply(routedWeights[Int(d.finalExpert[t * k + j])], token: sent[...])
                    if c.precision.combine != .fp32 {
                        out = wireRoundTrip(c.precision.combine, out.map { Float($0) }).map { Double($0) }
                    }
                    let weight = Double(d.weight[t * k + j])
                    for h in 0..<H { moe[h] += weight * out[h] }
                }
                for h in 0..<H {
                    let got = Double(y[r][t * H + h]), reference = Double(x[r][t * H + h]) + moe[h]
                    let at = "layer \(layer), rank \(r), token \(t), element \(h)"
                    guard got.isFinite else { return (maxError, maxMagnitude, "output of \(at) is \(got)") }
                    guard reference.isFinite else {
                        return (maxError, maxMagnitude, "reference output of \(at) is \(reference)")
                    }
                    maxError = max(maxError, abs(got - reference))
                    maxMagnitude = max(maxMagnitude, abs(moe[h]))
                }
            }
        }
        return (maxError, maxMagnitude, nil)
    }

    /// `row` encoded in wire format `p` and decoded again (`WireCodec`).
    static func wireRoundTrip(_ p: WirePrecision, _ row: [Float]) -> [Float] {
        let H = row.count
        var bytes = [UInt8](repeating: 0, count: WireCodec.bytesPerRow(p, hidden: H))
        var back = [Float](repeating: 0, count: H)
        row.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { WireCodec.encodeRow(p, src: src.baseAddress!, hidden: H, dst: $0.baseAddress!) }
        }
        bytes.withUnsafeBytes { src in
            back.withUnsafeMutableBufferPointer { WireCodec.decodeRow(p, src: src.baseAddress!, hidden: H, dst: $0.baseAddress!) }
        }
        return back
    }

    /// "`what`, rank r, token t, element h is v" for the first NaN or infinity in
    /// per-rank rows [T_r × H], or nil.
    private static func firstNonFinite(_ rows: [[Float]], hidden H: Int, what: String) -> String? {
        for (r, values) in rows.enumerated() {
            if let i = values.firstIndex(where: { !$0.isFinite }) {
                return "\(what), rank \(r), token \(i / H), element \(i % H) is \(values[i])"
            }
        }
        return nil
    }
}
