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
    /// The first NaN or infinity found on either side (distributed rows or reference
    /// output), if any; `maxRelError` is then infinite.
    public var nonFinite: String?

    /// Decisions match, every value on both sides is finite and the error is within
    /// tolerance. (A NaN error compares false, so it cannot pass either.)
    public var passed: Bool { decisionsMatch && nonFinite == nil && maxRelError <= tolerance }

    public var summary: String {
        "decisions_match \(decisionsMatch)" + (firstMismatch.map { " (\($0))" } ?? "")
            + ", max_rel_error \(maxRelError) (tolerance \(tolerance))"
            + (nonFinite.map { ", non-finite: \($0)" } ?? "")
    }

    /// Tolerance for the wire precisions: 1e-5 + 2 × u_combine, u the combine format's
    /// unit roundoff (fp32 0, bf16 2^-8, fp16 2^-11, fp8 e4m3 2^-4 of the row's largest
    /// entry).
    ///
    /// The reference rounds what crosses the wire as the wire formats do, so the
    /// dispatched rows are bit for bit the layer's, and what remains is fp32 arithmetic
    /// (summation order, sgemm blocking: 1e-5) and the combine rounding of an expert
    /// output that sgemm and the Double reference compute a few ulps apart, which can
    /// fall on either side of a rounding boundary: one step of the format, at most 2u.
    /// Measured on configs/default.yaml (4 ranks): bf16 dispatch 8.8e-7; bf16 combine
    /// 0.0025, fp16 0.00034, fp8 0.016, that is 0.13 to 0.34 of 2u.
    public static func tolerance(_ p: PrecisionConfig) -> Double {
        1e-5 + 2 * Double(WireCodec.unitRoundoff(p.combine))
    }
}

/// Gathers one step's inputs, decisions and outputs of every layer to rank 0 and checks
/// them there against the reference (`Verifier.check`).
public enum Verifier {
    /// Collective: every rank sends its rows and decisions; rank 0 returns the
    /// verification (`check`), the other ranks nil.
    public static func verify(_ moe: MoERank, step: Int, transport: any Transport) throws -> Verification? {
        guard let input = try gather(moe, step: step, transport: transport) else { return nil }
        return try check(input, config: moe.config, layout: moe.layout)
    }

    /// Collective: brings the latest step's layer inputs, outputs and decisions of every
    /// rank to rank 0 (nil on the other ranks). `step` is the step they belong to.
    public static func gather(_ moe: MoERank, step: Int, transport: any Transport) throws -> VerificationInput? {
        let L = moe.config.model.layers
        var input = VerificationInput(step: step, rows: [], finalExpert: [], outcome: [])
        for l in 0...L {
            input.rows.append(try transport.gatherArrays(moe.inputs[l].values))
            if l < L {
                input.finalExpert.append(try transport.gatherArrays(moe.decisions[l].finalExpert))
                input.outcome.append(try transport.gatherArrays(moe.decisions[l].outcome.map(\.rawValue)))
            }
        }
        return transport.rank == 0 ? input : nil
    }
}
