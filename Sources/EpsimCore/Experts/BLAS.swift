import CBLAS

/// The only code in EpsimCore that calls CBLAS (OpenBLAS) directly.
public enum BLAS {
    /// Makes OpenBLAS compute on the calling thread only. Each rank (process or
    /// emulated thread) is one worker: BLAS threads of its own would compete with the
    /// other ranks for the cores, and would make results depend on how rows are split
    /// between threads (routing must be bitwise identical on every transport).
    public static func useSingleThread() {
        openblas_set_num_threads(1)
    }

    /// OpenBLAS's build description (version, target, threading), for reports.
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "OpenBLAS" }
        return "OpenBLAS " + String(cString: text).trimmingSpaces
    }

    /// Row-major single-precision GEMM: C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C.
    ///
    /// Buffers are dense and row-major: A is [m×k] ([k×m] when `transposeA`), B is
    /// [k×n] ([n×k] when `transposeB`), C is [m×n]. Sizes are checked before the call.
    /// With beta = 0, C is only written (NaNs in it do not propagate).
    public static func sgemm(
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        _ a: UnsafeBufferPointer<Float>, transposeA: Bool = false,
        _ b: UnsafeBufferPointer<Float>, transposeB: Bool = false,
        beta: Float = 0,
        _ c: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m=\(m) n=\(n) k=\(k)")
        precondition(a.count >= m * k, "sgemm: A holds \(a.count) floats, need m*k = \(m * k)")
        precondition(b.count >= k * n, "sgemm: B holds \(b.count) floats, need k*n = \(k * n)")
        precondition(c.count >= m * n, "sgemm: C holds \(c.count) floats, need m*n = \(m * n)")
        precondition(max(m, n, k) <= Int(Int32.max), "sgemm: size exceeds 32-bit BLAS")
        if m == 0 || n == 0 { return }
        if k == 0 {
            // Empty product: C = beta * C (BLAS would reject the zero leading dimension).
            for i in 0..<(m * n) { c[i] = beta == 0 ? 0 : beta * c[i] }
            return
        }
        let lda = transposeA ? m : k
        let ldb = transposeB ? k : n
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a.baseAddress, blasint(lda),
            b.baseAddress, blasint(ldb),
            beta, c.baseAddress, blasint(n))
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
