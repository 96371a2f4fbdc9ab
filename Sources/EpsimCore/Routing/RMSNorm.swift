/// The pre-norm of every MoE layer: layer l + 1 receives x + MoE_l(RMSNorm(x)), as in
/// Mixtral, DeepSeek and Qwen blocks. The router, the routed experts and the shared
/// experts all read RMSNorm(x); the residual adds the raw x.
///
/// RMSNorm(x)_h = x_h / sqrt(mean_h(x_h²) + ε) per token row, with no learned scale
/// (a unit scale) and ε = 1e-6 (Qwen's and DeepSeek-V3's `rms_norm_eps`; Mixtral's
/// config uses 1e-5). The mean of squares and the scaling are computed in Double, in
/// index order, and rounded to Float once, so a finite row never overflows and every
/// caller (the distributed layer and the `--verify` reference) gets bitwise the same
/// rows. A finite row never overflows and comes out with entries of magnitude at most
/// sqrt(H); a row holding a NaN or an infinity comes out non-finite.
public enum RMSNorm {
    /// ε, added to the mean of squares.
    public static let epsilon = 1e-6

    /// Normalizes `rows` rows of `hidden` floats: x [rows × hidden] into y [rows × hidden],
    /// row-major. `y` may not alias `x`.
    public static func apply(
        _ x: UnsafeBufferPointer<Float>, rows: Int, hidden: Int, into y: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(rows >= 0 && hidden >= 0)
        precondition(x.count >= rows * hidden && y.count >= rows * hidden,
                     "RMSNorm of \(rows) × \(hidden) needs that many floats, got \(x.count) in and \(y.count) out")
        guard rows > 0, hidden > 0, let xs = x.baseAddress, let ys = y.baseAddress else { return }
        for t in 0..<rows {
            let row = xs + t * hidden, out = ys + t * hidden
            var squares = 0.0
            for h in 0..<hidden { squares += Double(row[h]) * Double(row[h]) }
            let scale = 1 / (squares / Double(hidden) + epsilon).squareRoot()
            for h in 0..<hidden { out[h] = Float(Double(row[h]) * scale) }
        }
    }

    /// RMSNorm of x [rows × hidden] (any whole number of rows) as a new array.
    public static func apply(_ x: [Float], hidden: Int) -> [Float] {
        precondition(hidden > 0 && x.count % hidden == 0)
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { apply(xb, rows: x.count / hidden, hidden: hidden, into: $0) }
        }
        return y
    }
}
