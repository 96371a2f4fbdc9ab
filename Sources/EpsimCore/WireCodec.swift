/// Encodes token rows for the wire and decodes them on receipt.
///
/// Row formats ([H] floats in, bytes out):
/// - fp32: the 4-byte IEEE floats, bit for bit;
/// - bf16: the upper 16 bits of each float after round-to-nearest-even (NaN stays NaN);
/// - fp16: IEEE half precision, round-to-nearest-even, overflow to ±inf, subnormals kept;
/// - fp8_e4m3: a 4-byte Float32 scale s = amax/448 (1 for an all-zero row), then one
///   OCP e4m3fn byte per element for x/s: round-to-nearest-even, saturating at ±448
///   (e4m3fn has no infinity; NaN is 0x7F/0xFF). The scale is part of the row's bytes.
/// All integers are little-endian (the machine's order; peers share it).
public enum WireCodec {
    /// Bytes one row of `hidden` floats takes on the wire.
    public static func bytesPerRow(_ p: WirePrecision, hidden: Int) -> Int {
        switch p {
        case .fp32: return 4 * hidden
        case .bf16, .fp16: return 2 * hidden
        case .fp8E4M3: return 4 + hidden
        }
    }

    /// The largest relative rounding error of one element: relative to the element for
    /// bf16/fp16 (normal range), relative to the row's largest magnitude for fp8.
    public static func unitRoundoff(_ p: WirePrecision) -> Float {
        switch p {
        case .fp32: return 0
        case .bf16: return 1.0 / 256      // 2^-8: 7 stored mantissa bits
        case .fp16: return 1.0 / 2048     // 2^-11: 10 stored mantissa bits
        case .fp8E4M3: return 1.0 / 16    // 2^-4: 3 stored mantissa bits
        }
    }

    /// Encodes one row of `hidden` floats at `src` into `dst` (`bytesPerRow` bytes).
    @inline(__always)
    public static func encodeRow(_ p: WirePrecision, src: UnsafePointer<Float>, hidden: Int,
                                 dst: UnsafeMutableRawPointer) {
        switch p {
        case .fp32:
            dst.copyMemory(from: src, byteCount: 4 * hidden)
        case .bf16:
            let out = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { out[i] = bf16Bits(src[i]) }
        case .fp16:
            let out = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { out[i] = Float16(src[i]).bitPattern }
        case .fp8E4M3:
            var amax: Float = 0
            for i in 0..<hidden { amax = max(amax, abs(src[i])) }
            let scale: Float = amax > 0 && amax.isFinite ? amax / 448 : 1
            dst.storeBytes(of: scale, as: Float.self)
            let out = (dst + 4).assumingMemoryBound(to: UInt8.self)
            let inverse = 1 / scale
            for i in 0..<hidden { out[i] = e4m3Bits(src[i] * inverse) }
        }
    }

    /// Decodes one row from `src` into `hidden` floats at `dst`.
    @inline(__always)
    public static func decodeRow(_ p: WirePrecision, src: UnsafeRawPointer, hidden: Int,
                                 dst: UnsafeMutablePointer<Float>) {
        switch p {
        case .fp32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * hidden)
        case .bf16:
            let input = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { dst[i] = Float(bitPattern: UInt32(input[i]) << 16) }
        case .fp16:
            let input = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { dst[i] = Float(Float16(bitPattern: input[i])) }
        case .fp8E4M3:
            let scale = src.loadUnaligned(as: Float.self)
            let input = (src + 4).assumingMemoryBound(to: UInt8.self)
            e4m3Table.withUnsafeBufferPointer { table in
                for i in 0..<hidden { dst[i] = table[Int(input[i])] * scale }
            }
        }
    }

    /// bf16 bits of `x`: round to nearest, ties to even; NaN becomes a quiet NaN.
    @inline(__always)
    public static func bf16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let lsb = (bits >> 16) & 1
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ lsb) >> 16)
    }

    /// OCP e4m3fn byte of `x`: round to nearest, ties to even, saturating at ±448.
    @inline(__always)
    public static func e4m3Bits(_ x: Float) -> UInt8 {
        if x.isNaN { return 0x7F }
        let sign: UInt8 = x.sign == .minus ? 0x80 : 0
        let a = abs(x)
        if a >= 448 { return sign | 0x7E }
        if a < 0x1p-6 {
            // Subnormal: multiples of 2^-9; 8 · 2^-9 is the smallest normal (code 0x08).
            let q = (a * 0x1p9).rounded(.toNearestOrEven)
            return sign | UInt8(q)
        }
        var e = Int(a.exponent)
        var q = ((a / Float(sign: .plus, exponent: e, significand: 1) - 1) * 8).rounded(.toNearestOrEven)
        if q == 8 {
            q = 0
            e += 1
        }
        let field = e + 7
        if field > 15 || (field == 15 && q == 7) { return sign | 0x7E }
        return sign | UInt8(field << 3) | UInt8(q)
    }

    /// The value of every e4m3fn code.
    public static let e4m3Table: [Float] = (0..<256).map { code in
        let sign: Float = code & 0x80 != 0 ? -1 : 1
        let field = (code >> 3) & 0xF, mantissa = Float(code & 7)
        if field == 15 && code & 7 == 7 { return .nan }
        if field == 0 { return sign * mantissa * 0x1p-9 }
        return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: field - 7, significand: 1)
    }
}
