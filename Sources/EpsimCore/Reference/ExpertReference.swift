/// The obviously-correct expert: one token at a time, plain loops over the weight
/// arrays, sums in Double, no BLAS. For tests and for `--verify`.
public enum ExpertReference {
    /// y [H] = FFN_w(x [H]) for one token row, in Double (see `ExpertWeights` for the
    /// formula). Allocates an [F] scratch per call.
    public static func apply(weights w: ExpertWeights, token x: UnsafeBufferPointer<Float>,
                             into y: UnsafeMutableBufferPointer<Double>) {
        let H = w.hidden, F = w.ffn
        precondition(x.count == H && y.count == H, "token of \(x.count), output of \(y.count), H = \(H)")
        var h = [Double](repeating: 0, count: F)
        for f in 0..<F {
            var s1 = 0.0, s3 = 0.0
            for i in 0..<H { s1 += Double(x[i]) * Double(w.w1[i * F + f]) }
            switch w.activation {
            case .swiglu:
                for i in 0..<H { s3 += Double(x[i]) * Double(w.w3[i * F + f]) }
                h[f] = ExpertActivation.silu(s1) * s3
            case .gelu:
                h[f] = ExpertActivation.gelu(s1)
            }
        }
        for j in 0..<H {
            var s = 0.0
            for f in 0..<F { s += h[f] * Double(w.w2[f * H + j]) }
            y[j] = s
        }
    }

    /// FFN_w(x) for one token row `x` [H], as a new array [H].
    public static func apply(_ w: ExpertWeights, token x: ArraySlice<Float>) -> [Double] {
        var y = [Double](repeating: 0, count: w.hidden)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { apply(weights: w, token: xb, into: $0) }
        }
        return y
    }
}
