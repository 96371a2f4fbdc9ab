/// Runs expert FFNs on contiguous blocks of rows with BLAS sgemm; scratch is allocated
/// once and grown only when a block is larger than any before.
public final class ExpertCompute {
    public let hidden: Int
    public let ffn: Int
    private var a: [Float] = []
    private var b: [Float] = []

    public init(hidden: Int, ffn: Int) {
        self.hidden = hidden
        self.ffn = ffn
    }

    /// y [n × H] = FFN(x [n × H]) for the n rows of one expert's block.
    /// With `accumulate`, adds to y instead of overwriting it.
    public func apply(_ w: ExpertWeights, x: UnsafeBufferPointer<Float>, rows n: Int,
                      into y: UnsafeMutableBufferPointer<Float>, accumulate: Bool = false) {
        guard n > 0 else { return }
        let H = hidden, F = ffn
        precondition(w.hidden == H && w.ffn == F && x.count >= n * H && y.count >= n * H)
        if a.count < n * F {
            a = Array(repeating: 0, count: n * F)
            b = a
        }
        let x = UnsafeBufferPointer(rebasing: x[0..<(n * H)])
        let y = UnsafeMutableBufferPointer(rebasing: y[0..<(n * H)])
        a.withUnsafeMutableBufferPointer { aAll in
            let a = UnsafeMutableBufferPointer(rebasing: aAll[0..<(n * F)])
            w.w1.withUnsafeBufferPointer { BLAS.sgemm(m: n, n: F, k: H, x, $0, a) }
            switch w.activation {
            case .swiglu:
                b.withUnsafeMutableBufferPointer { bAll in
                    let b = UnsafeMutableBufferPointer(rebasing: bAll[0..<(n * F)])
                    w.w3.withUnsafeBufferPointer { BLAS.sgemm(m: n, n: F, k: H, x, $0, b) }
                    for i in 0..<(n * F) { a[i] = silu(a[i]) * b[i] }
                }
            case .gelu:
                for i in 0..<(n * F) { a[i] = gelu(a[i]) }
            }
            w.w2.withUnsafeBufferPointer {
                BLAS.sgemm(m: n, n: H, k: F, UnsafeBufferPointer(a), $0, beta: accumulate ? 1 : 0, y)
            }
        }
    }
}

/// The obviously-correct expert: one token at a time, plain loops, Double sums.
public enum ExpertReference {
    /// Returns FFN(x) for one token row `x` [H].
    public static func apply(_ w: ExpertWeights, token x: ArraySlice<Float>) -> [Double] {
        let H = w.hidden, F = w.ffn
        let xs = Array(x)
        var h = [Double](repeating: 0, count: F)
        for f in 0..<F {
            var s1 = 0.0, s3 = 0.0
            for i in 0..<H {
                s1 += Double(xs[i]) * Double(w.w1[i * F + f])
                if w.activation == .swiglu { s3 += Double(xs[i]) * Double(w.w3[i * F + f]) }
            }
            switch w.activation {
            case .swiglu: h[f] = s1 / (1 + exp(-s1)) * s3
            case .gelu: h[f] = 0.5 * s1 * (1 + tanh(0.797_884_560_802_865_4 * (s1 + 0.044_715 * s1 * s1 * s1)))
            }
        }
        var y = [Double](repeating: 0, count: H)
        for j in 0..<H {
            var s = 0.0
            for f in 0..<F { s += h[f] * Double(w.w2[f * H + j]) }
            y[j] = s
        }
        return y
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
