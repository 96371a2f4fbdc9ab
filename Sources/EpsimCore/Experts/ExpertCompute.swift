#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs expert FFNs on contiguous blocks of rows with BLAS sgemm (three products for
/// SwiGLU, two for GELU) and one elementwise pass in between.
///
/// Scratch is [rows × F] floats (two such for SwiGLU), allocated on the first block
/// larger than any before, then reused: no allocation per call otherwise. One instance
/// per rank; not thread-safe.
public final class ExpertCompute {
    /// H.
    public let hidden: Int
    /// F.
    public let ffn: Int
    /// Rows the scratch holds now.
    private var capacityRows = 0
    /// x·W1, then the activated product: [capacityRows × F].
    private var a: [Float] = []
    /// x·W3 (SwiGLU only): [capacityRows × F].
    private var b: [Float] = []

    /// A compute context for experts of shape H = `hidden`, F = `ffn`.
    public init(hidden: Int, ffn: Int) {
        self.hidden = hidden
        self.ffn = ffn
    }

    /// Rows the scratch is allocated for when a block of `rows` outgrows it: half as
    /// many again, so blocks that creep up from step to step do not reallocate every time.
    public static func scratchRows(for rows: Int) -> Int { rows + rows / 2 }

    /// Bytes of the scratch after a block of `rows`: two [scratchRows × F] fp32 arrays.
    public static func scratchBytes(rows: Int, ffn: Int) -> Int { 2 * scratchRows(for: rows) * ffn * 4 }

    /// Makes the scratch hold at least `rows` rows (for both activations), growing to
    /// `scratchRows(for:)`.
    private func reserve(rows: Int) {
        guard rows > capacityRows else { return }
        let target = Self.scratchRows(for: rows)
        a = [Float](repeating: 0, count: target * ffn)
        b = [Float](repeating: 0, count: target * ffn)
        capacityRows = target
    }

    /// y [n × H] = FFN_w(x [n × H]) for the `n` contiguous rows of one expert's block
    /// (only the first n·H floats of `x` and `y` are touched). With `accumulate`, adds
    /// to y instead of overwriting it. `n = 0` does nothing.
    public func apply(_ w: ExpertWeights, x: UnsafeBufferPointer<Float>, rows n: Int,
                      into y: UnsafeMutableBufferPointer<Float>, accumulate: Bool = false) {
        guard n > 0 else { return }
        let H = hidden, F = ffn
        precondition(w.hidden == H && w.ffn == F, "expert \(w.hidden)×\(w.ffn) on a \(H)×\(F) context")
        precondition(x.count >= n * H && y.count >= n * H, "block of \(n) rows: x \(x.count), y \(y.count) floats")
        reserve(rows: n)
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
                    ExpertActivation.swiglu(a, times: UnsafeBufferPointer(b))
                }
            case .gelu:
                ExpertActivation.gelu(a)
            }
            w.w2.withUnsafeBufferPointer {
                BLAS.sgemm(m: n, n: H, k: F, UnsafeBufferPointer(a), $0, beta: accumulate ? 1 : 0, y)
            }
        }
    }
}
