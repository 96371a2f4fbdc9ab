/// The expert activations over whole blocks, eight lanes at a time. The scalar libm
/// `expf` costs about as much per element as a third of a sgemm's work at the widths
/// simulated here; this polynomial exp keeps the activation a small fraction of the
/// expert phase.
extension ExpertActivation {
    /// e^x for eight lanes: Cephes' expf (range reduction by ln 2 in two parts, degree-5
    /// polynomial), within 2 ulp of e^x over its range; inputs are clamped to
    /// [-87, 88] (NaN becomes -87 or 88), so results stay finite and normal.
    @inline(__always)
    public static func exp8(_ x0: SIMD8<Float>) -> SIMD8<Float> {
        // Only plain arithmetic and bit operations: SIMD `rounded`, `clamped` and integer
        // conversions are not lowered to vector instructions on Linux (about 8× slower).
        let x = pointwiseMax(pointwiseMin(x0, SIMD8(repeating: 88)), SIMD8(repeating: -87))
        // n = round(x·log2 e) by the 1.5·2^23 trick.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let shifted = x * 1.442_695_040_888_963_4 + magic
        let n = shifted - magic
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p = SIMD8<Float>(repeating: 1.987_569_150_0e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = p * (r * r) + r + 1
        // The low mantissa bits of `shifted` hold n + 2^22; 2^n has exponent bits n + 127.
        let bits = (unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        return y * unsafeBitCast(bits, to: SIMD8<Float>.self)
    }

    /// a[i] = silu(a[i]) · b[i] for every i (SwiGLU's gate).
    public static func swiglu(_ a: UnsafeMutableBufferPointer<Float>, times b: UnsafeBufferPointer<Float>) {
        precondition(b.count >= a.count)
        let n = a.count, body = n - n % 8
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return }
        var i = 0
        while i < body {
            let va = UnsafeRawPointer(pa + i).loadUnaligned(as: SIMD8<Float>.self)
            let vb = UnsafeRawPointer(pb + i).loadUnaligned(as: SIMD8<Float>.self)
            let out = va / (1 + exp8(-va)) * vb
            UnsafeMutableRawPointer(pa + i).storeBytes(of: out, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            pa[i] = silu(pa[i]) * pb[i]
            i += 1
        }
    }

    /// a[i] = gelu(a[i]) (tanh approximation; tanh(z) = 1 − 2 / (e^{2z} + 1)).
    public static func gelu(_ a: UnsafeMutableBufferPointer<Float>) {
        let n = a.count, body = n - n % 8
        guard let pa = a.baseAddress else { return }
        let c = SIMD8<Float>(repeating: Float(geluC))
        var i = 0
        while i < body {
            let v = UnsafeRawPointer(pa + i).loadUnaligned(as: SIMD8<Float>.self)
            let z = c * (v + 0.044_715 * v * v * v)
            let tanh = 1 - 2 / (exp8(2 * z) + 1)
            UnsafeMutableRawPointer(pa + i).storeBytes(of: 0.5 * v * (1 + tanh), as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            pa[i] = gelu(pa[i])
            i += 1
        }
    }
}
