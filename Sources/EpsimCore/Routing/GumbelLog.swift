/// The natural logarithm the synthetic workloads' Gumbel draws use, -log(-log(u)):
/// the algorithm and minimax coefficients Lg1…Lg7 of fdlibm's `__ieee754_log` (Sun
/// Microsystems, 1993, e_log.c; error below one ulp) for positive normal inputs, without
/// its special branch for |f| < 2⁻²⁰ (the general formula covers it, so near a power of
/// two the last bit may differ from a C fdlibm's; `GumbelLogTests` bounds it by libm's),
/// written once for a scalar and once for four lanes with the same operations in the
/// same order, so both give the same bits on every IEEE-754 machine. The libm `log` a
/// platform ships need not be the same function from one C library to the next; this
/// one is the same everywhere, and the four-lane form lets the router draw a token's E
/// Gumbels several at a time (two logarithms per logit are most of a synthetic
/// workload's routing time).
///
/// Domain: x > 0, finite and normal (the draws' u lies in [2⁻⁵⁴, 1 − 2⁻⁵⁴], and
/// -log(u) in [5.5e-17, 37.5]); other inputs are outside its contract.
public enum GumbelLog {
    @usableFromInline static let ln2Hi = 6.93147180369123816490e-01
    @usableFromInline static let ln2Lo = 1.90821492927058770002e-10
    @usableFromInline static let lg1 = 6.666666666666735130e-01
    @usableFromInline static let lg2 = 3.999999999940941908e-01
    @usableFromInline static let lg3 = 2.857142874366239149e-01
    @usableFromInline static let lg4 = 2.222219843214978396e-01
    @usableFromInline static let lg5 = 1.818357216161805012e-01
    @usableFromInline static let lg6 = 1.531383769920937332e-01
    @usableFromInline static let lg7 = 1.479819860511658591e-01

    /// log(x) for one positive normal x.
    @inlinable @inline(__always)
    public static func log(_ x: Double) -> Double {
        let bits = x.bitPattern
        let hx = Int64(bitPattern: bits >> 32)
        var k = (hx >> 20) - 1023
        let high = hx & 0x000f_ffff
        // Scale into [√2/2, √2): the exponent of 1 or of 1/2, chosen by the mantissa.
        let i = (high + 0x95f64) & 0x10_0000
        let m = Double(bitPattern: UInt64(high | (i ^ 0x3ff0_0000)) << 32 | (bits & 0xffff_ffff))
        k += i >> 20
        let f = m - 1.0
        let s = f / (2.0 + f)
        let dk = Double(k)
        let z = s * s
        let w = z * z
        let t1 = w * (lg2 + w * (lg4 + w * lg6))
        let t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)))
        let r = t2 + t1
        let hfsq = 0.5 * f * f
        let near = ((high - 0x6147a) | (0x6b851 - high)) > 0
        let a = dk * ln2Hi - ((hfsq - (s * (hfsq + r) + dk * ln2Lo)) - f)
        let b = dk * ln2Hi - ((s * (f - r) - dk * ln2Lo) - f)
        return near ? a : b
    }

    /// log of each of four positive normal lanes, each lane exactly `log(_: Double)`.
    @inlinable @inline(__always)
    public static func log(_ x: SIMD4<Double>) -> SIMD4<Double> {
        let bits = unsafeBitCast(x, to: SIMD4<UInt64>.self)
        let hx = unsafeBitCast(bits &>> 32, to: SIMD4<Int64>.self)
        var k = (hx &>> 20) &- 1023
        let high = hx & 0x000f_ffff
        let i = (high &+ 0x95f64) & 0x10_0000
        let mBits = unsafeBitCast(high | (i ^ 0x3ff0_0000), to: SIMD4<UInt64>.self) &<< 32 | (bits & 0xffff_ffff)
        let m = unsafeBitCast(mBits, to: SIMD4<Double>.self)
        k &+= i &>> 20
        let f = m - 1.0
        let s = f / (2.0 + f)
        let dk = SIMD4<Double>(k)
        let z = s * s
        let w = z * z
        let t1 = w * (lg2 + w * (lg4 + w * lg6))
        let t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)))
        let r = t2 + t1
        let hfsq = 0.5 * f * f
        let near = ((high &- 0x6147a) | (0x6b851 &- high)) .> 0
        let a = dk * ln2Hi - ((hfsq - (s * (hfsq + r) + dk * ln2Lo)) - f)
        let b = dk * ln2Hi - ((s * (f - r) - dk * ln2Lo) - f)
        return b.replacing(with: a, where: near)
    }
}
