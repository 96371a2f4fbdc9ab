#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The expert activations: Double scalars for the reference (`ExpertReference`), and
/// below, Float loops over whole blocks for the fast path.
public enum ExpertActivation {
    /// √(2/π), GELU's tanh-approximation constant.
    public static let geluC = 0.797_884_560_802_865_4

    /// silu(a) = a · sigmoid(a) = a / (1 + e^-a).
    @inline(__always)
    public static func silu(_ a: Double) -> Double { a / (1 + exp(-a)) }

    /// GELU, tanh approximation (as GPT-2 and PyTorch's `approximate="tanh"`):
    /// 0.5·a·(1 + tanh(√(2/π)·(a + 0.044715·a³))).
    @inline(__always)
    public static func gelu(_ a: Double) -> Double {
        0.5 * a * (1 + tanh(geluC * (a + 0.044_715 * a * a * a)))
    }
}

/// The expert activations over whole blocks. libm's `expf` costs about 13 ns per call
/// here, as much as a third of the matrix products at the widths simulated; these loops
/// use a polynomial exp with only arithmetic and bit operations and no branches, which
/// the compiler vectorizes (about 1 ns per element, bound by memory). Swift's SIMD types
/// are not used: their rounding, clamping, masks and conversions are not lowered to
/// vector instructions on Linux and run several times slower than plain scalar code.
extension ExpertActivation {
    /// e^x, Cephes' expf: range reduction by ln 2 in two parts and a degree-5 polynomial,
    /// within 2 ulp over [-87, 88]; inputs are clamped to that range (NaN becomes one of
    /// its ends), so results stay finite and normal.
    @inline(__always)
    public static func fastExp(_ x0: Float) -> Float {
        let x = Swift.max(Swift.min(x0, 88), -87)
        // n = round(x·log2 e) by the 1.5·2^23 trick; its low mantissa bits hold n + 2^22.
        let shifted = x * 1.442_695_040_888_963_4 + 12_582_912
        let n = shifted - 12_582_912
        var r = x - n * 0.693_359_375
        r = r + n * 2.121_944_4e-4
        var p: Float = 1.987_569_150_0e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let y = p * (r * r) + r + 1
        return y * Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
    }

    /// a[i] = silu(a[i]) · b[i] for every i (SwiGLU's gate).
    public static func swiglu(_ a: UnsafeMutableBufferPointer<Float>, times b: UnsafeBufferPointer<Float>) {
        precondition(b.count >= a.count)
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return }
        for i in 0..<a.count {
            let v = pa[i]
            pa[i] = v / (1 + fastExp(-v)) * pb[i]
        }
    }

    /// a[i] = gelu(a[i]) (tanh approximation; tanh(z) = 1 − 2 / (e^{2z} + 1)).
    public static func gelu(_ a: UnsafeMutableBufferPointer<Float>) {
        guard let pa = a.baseAddress else { return }
        let c = Float(geluC)
        for i in 0..<a.count {
            let v = pa[i]
            let z = c * (v + 0.044_715 * v * v * v)
            pa[i] = 0.5 * v * (2 - 2 / (fastExp(2 * z) + 1))
        }
    }
}
