/// Scalar conversions between Float and the narrow wire formats, on bit patterns.
///
/// Every narrowing conversion rounds to nearest, ties to even (the IEEE default), and
/// is exact wherever the value is representable. These are the per-element kernels of
/// `WireCodec`; tests compare them with slow reference conversions in Double.
public enum WireFormats {
    // MARK: bf16 (1 sign, 8 exponent, 7 mantissa bits: the top half of a Float)

    /// bf16 bits of `x`. Overflow rounds to ±inf exactly as IEEE does (only values at
    /// or above 2^128 · (1 - 2^-9) do); subnormals are kept; NaN stays NaN (quieted,
    /// sign and top payload bits kept).
    @inline(__always)
    public static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let lsb = (bits >> 16) & 1
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ lsb) >> 16)
    }

    /// `bf16Bits` without branches (selects through a mask), for loops the compiler
    /// should vectorize. Same result for every input.
    @inline(__always)
    public static func bf16BitsBranchFree(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        let quiet = (bits >> 16) | 0x0040
        let mask = 0 &- UInt32((bits & 0x7FFF_FFFF) > 0x7F80_0000 ? 1 : 0)
        return UInt16(truncatingIfNeeded: (quiet & mask) | (rounded & ~mask))
    }

    /// The Float with bf16 bits `b` (exact).
    @inline(__always)
    public static func float(bf16 b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    // MARK: fp16 (IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits, bias 15)

    /// IEEE half bits of `x`: finite values of magnitude ≥ 65520 (max finite 65504 plus
    /// half an ulp) become ±inf; magnitudes below 2^-14 become subnormals (multiples of
    /// 2^-24) or ±0; every NaN becomes the quiet NaN 0x7E00 with x's sign.
    /// (The branchy bit method of F. Giesen's `float_to_half_fast3_rtne`.)
    @inline(__always)
    public static func fp16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let a = bits & 0x7FFF_FFFF
        if a >= 0x4780_0000 {                      // |x| ≥ 65536, inf or NaN
            return sign | (a > 0x7F80_0000 ? 0x7E00 : 0x7C00)
        }
        if a < 0x3880_0000 {                       // |x| < 2^-14: subnormal half or zero
            // Adding 0.5 puts the units of 2^-24 in the low mantissa bits; the FPU's
            // round-to-nearest-even does the rounding.
            let shifted = Float(bitPattern: a) + 0.5
            return sign | UInt16(truncatingIfNeeded: shifted.bitPattern &- 0x3F00_0000)
        }
        // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to even.
        let odd = (a >> 13) & 1
        let rounded = a &+ 0xC800_0FFF &+ odd      // 0xC800_0000 = (15 - 127) << 23 (mod 2^32)
        return sign | UInt16(truncatingIfNeeded: rounded >> 13)
    }

    /// The Float with IEEE half bits `h` (exact; NaN payloads kept).
    @inline(__always)
    public static func float(fp16 h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {                         // zero or subnormal: mantissa · 2^-24
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    // MARK: fp8 e4m3fn (OCP: 1 sign, 4 exponent, 3 mantissa bits, bias 7, no inf)

    /// Largest finite e4m3fn magnitude (code 0x7E).
    public static let e4m3Max: Float = 448

    /// e4m3fn code of `x` (already divided by its scale): ties to even, saturating at
    /// ±448 (code 0x7E/0xFE), ±inf included; NaN gives 0x7F (0xFF if negative); values
    /// below 2^-6 become subnormals (multiples of 2^-9) or ±0.
    @inline(__always)
    public static func e4m3Bits(_ x: Float) -> UInt8 {
        let bits = x.bitPattern
        let sign = UInt8(truncatingIfNeeded: bits >> 24) & 0x80
        let a = bits & 0x7FFF_FFFF
        if a > 0x7F80_0000 { return sign | 0x7F }
        if a >= 0x43E0_0000 { return sign | 0x7E } // |x| ≥ 448, inf included
        if a < 0x3C80_0000 {                       // |x| < 2^-6: subnormal or zero
            // |x|·2^9 (exact) counts units of 2^-9; adding 2^23, whose ulp is 1, lets the
            // FPU round it to an integer, ties to even. 8 units is 2^-6, code 0x08.
            let shifted = Float(bitPattern: a) * 0x1p9 + 0x1p23
            return sign | UInt8(truncatingIfNeeded: shifted.bitPattern &- 0x4B00_0000)
        }
        // Normal: rebias (127 -> 7) and round the 20 dropped mantissa bits to even;
        // 448 < |x| < 464 would round to 480 but was saturated above.
        let odd = (a >> 20) & 1
        let rounded = a &+ 0x7_FFFF &+ odd
        let code = (rounded >> 20) &- (120 << 3)
        return sign | UInt8(truncatingIfNeeded: min(code, 0x7E))
    }

    /// `e4m3Bits` without branches: every case is computed and the right one selected
    /// through masks, so loops over rows vectorize. Same result for every input.
    @inline(__always)
    public static func e4m3BitsBranchFree(_ x: Float) -> UInt8 {
        let bits = x.bitPattern
        let sign = (bits >> 24) & 0x80
        let a = bits & 0x7FFF_FFFF
        // Subnormal or zero (|x| < 2^-6), as in `e4m3Bits`; garbage for other a.
        let small = (Float(bitPattern: a) * 0x1p9 + 0x1p23).bitPattern &- 0x4B00_0000
        // Normal; garbage below 2^-6 (the subtraction wraps), masked out below.
        let rounded = a &+ 0x7_FFFF &+ ((a >> 20) & 1)
        let normal = min((rounded >> 20) &- (120 << 3), 0x7E)
        func mask(_ c: Bool) -> UInt32 { 0 &- UInt32(c ? 1 : 0) }
        let isSmall = mask(a < 0x3C80_0000), saturates = mask(a >= 0x43E0_0000), isNaN = mask(a > 0x7F80_0000)
        var code = (small & isSmall) | (normal & ~isSmall)
        code = (0x7E & saturates) | (code & ~saturates)
        code = (0x7F & isNaN) | (code & ~isNaN)
        return UInt8(truncatingIfNeeded: sign | code)
    }

    /// The value of e4m3fn code `code`, `e4m3Table[code]` bit for bit, computed without a
    /// table or branches so that row loops vectorize: normal codes rebias the exponent
    /// (7 → 127) and widen the mantissa; subnormal codes are mantissa · 2^-9; 0x7F and
    /// 0xFF are the table's NaN.
    @inline(__always)
    public static func float(e4m3 code: UInt8) -> Float {
        let c = UInt32(code), magnitude = c & 0x7F
        let normal = (magnitude << 20) &+ (120 << 23)
        let subnormal = (Float(magnitude) * 0x1p-9).bitPattern
        let bits = (magnitude < 8 ? subnormal : normal) | ((c & 0x80) << 24)
        return magnitude == 0x7F ? Float.nan : Float(bitPattern: bits)
    }

    /// The value of every e4m3fn code, indexed by code ([256]; 0x7F and 0xFF are NaN).
    public static let e4m3Table: [Float] = (0..<256).map { code in
        let sign: Float = code & 0x80 != 0 ? -1 : 1
        let field = (code >> 3) & 0xF, mantissa = Float(code & 7)
        if field == 15 && code & 7 == 7 { return .nan }
        if field == 0 { return sign * mantissa * 0x1p-9 }
        return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: field - 7, significand: 1)
    }
}
