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

    /// Checks one gathered step against the single-process reference
    /// (`ReferenceLayer.forward`). For every layer l, on the distributed run's own input
    /// x_l (so a last-bit difference in one layer cannot flip a routing choice in the
    /// next): the reference decisions against the run's, and the reference output
    /// against x_{l+1}.
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
            let experts = ReferenceLayer.Experts(config: c, layer: l, routed: expertWeights.map { source in
                { source(l, $0) }
            })
            let reference: ReferenceLayer.Output
            do {
                reference = try ReferenceLayer.forward(x: input.rows[l], step: input.step, layer: l, config: c,
                                                       layout: layout, router: router, experts: experts)
            } catch {
                nonFinite = "reference \(error)"
                break
            }
            for r in 0..<P where mismatch == nil {
                let ref = reference.decisions[r], finals = input.finalExpert[l][r], outcomes = input.outcome[l][r]
                if let a = (0..<ref.assignments).first(where: {
                    ref.finalExpert[$0] != finals[$0] || ref.outcome[$0].rawValue != outcomes[$0]
                }) {
                    mismatch = "layer \(l) rank \(r) token \(a / k) slot \(a % k)"
                }
            }
            let compared = compareOutputs(layer: l, hidden: H, reference: reference, y: input.rows[l + 1])
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
        layer: Int, hidden H: Int, reference: ReferenceLayer.Output, y: [[Float]]
    ) -> (error: Double, magnitude: Double, nonFinite: String?) {
        var maxError = 0.0, maxMagnitude = 0.0
        for (r, expected) in reference.y.enumerated() {
            let moe = reference.moe[r]
            for i in 0..<expected.count {
                let got = Double(y[r][i]), want = expected[i]
                var at: String { "layer \(layer), rank \(r), token \(i / H), element \(i % H)" }
                guard got.isFinite else { return (maxError, maxMagnitude, "output of \(at) is \(got)") }
                guard want.isFinite else { return (maxError, maxMagnitude, "reference output of \(at) is \(want)") }
                maxError = max(maxError, abs(got - want))
                maxMagnitude = max(maxMagnitude, abs(moe[i]))
            }
        }
        return (maxError, maxMagnitude, nil)
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
