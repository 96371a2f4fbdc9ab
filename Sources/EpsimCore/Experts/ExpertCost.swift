/// The cost of expert FFNs, for `compute: modeled` (a simulated accelerator: no
/// arithmetic, only time charged) and for reports.
///
/// FLOPs count the matrix products only, 2·n·H·F each: 6·n·H·F for SwiGLU (W1, W3, W2),
/// 4·n·H·F for GELU (W1, W2). The activation and gating (O(n·F)) are left out, as in
/// the usual MFU accounting; they would add about 1/H more.
public enum ExpertCost {
    /// FLOPs of `tokens` rows through one expert of shape H = `hidden`, F = `ffn`.
    @inline(__always)
    public static func flops(tokens: Int, hidden: Int, ffn: Int, activation: Activation) -> Double {
        let products: Double = activation == .swiglu ? 3 : 2
        return 2 * Double(tokens) * Double(hidden) * Double(ffn) * products
    }

    /// FLOPs of `tokens` rows through one expert of `model`.
    @inline(__always)
    public static func flops(tokens: Int, model: ModelConfig) -> Double {
        flops(tokens: tokens, hidden: model.hidden, ffn: model.ffn, activation: model.activation)
    }

    /// Seconds a device of `tflops` TFLOP/s running at `efficiency` (0, 1] takes for
    /// `flops`: flops / (tflops · 1e12 · efficiency).
    @inline(__always)
    public static func seconds(flops: Double, tflops: Double, efficiency: Double) -> Double {
        precondition(tflops > 0 && efficiency > 0, "modeled device: tflops \(tflops), efficiency \(efficiency)")
        return flops / (tflops * 1e12 * efficiency)
    }

    /// Modeled seconds of `tokens` rows through one expert of `model`; nil when
    /// `compute` is `.real` (the time is whatever the arithmetic takes).
    public static func modeledSeconds(tokens: Int, model: ModelConfig, compute: ComputeMode) -> Double? {
        guard case let .modeled(tflops, efficiency) = compute else { return nil }
        return seconds(flops: flops(tokens: tokens, model: model), tflops: tflops, efficiency: efficiency)
    }
}
