/// Encodes token rows for the wire and decodes them on receipt.
///
/// One row of H floats becomes `bytesPerRow(p, hidden: H)` bytes:
/// - fp32: the 4-byte IEEE floats, bit for bit (4·H bytes);
/// - bf16: the top 16 bits of each float after round-to-nearest-even (2·H bytes);
/// - fp16: IEEE binary16, round-to-nearest-even, overflow to ±inf, subnormals kept
///   (2·H bytes);
/// - fp8_e4m3: a Float32 scale s, then one OCP e4m3fn byte per element (4 + H bytes).
///   s = max(amax / 448, 2^-126) where amax is the row's largest finite magnitude (so an
///   all-zero row has s = 2^-126, never 0 or NaN). Each element is encoded as
///   `e4m3(x / s)`: ties to even, saturating at ±448 (±inf too: e4m3fn has no
///   infinity); NaN stays NaN (0x7F/0xFF). Decoding gives `value(code) · s`.
///   The scale travels inside the row, unaligned, so rows can be packed back to back.
/// Multi-byte fields are in the machine's byte order (peers share it). See
/// `WireFormats` for the per-element conversions.
///
/// All functions work on caller-owned memory and allocate nothing.
public enum WireCodec {
    /// Bytes one row of `hidden` floats takes on the wire, scale included.
    @inline(__always)
    public static func bytesPerRow(_ p: WirePrecision, hidden: Int) -> Int {
        switch p {
        case .fp32: return 4 * hidden
        case .bf16, .fp16: return 2 * hidden
        case .fp8E4M3: return 4 + hidden
        }
    }

    /// The worst-case relative rounding error u of one element through encode + decode:
    /// |decode(encode(x)) - x| ≤ u · |x| for bf16 (2^-8) and fp16 (2^-11) in their normal
    /// ranges, and ≤ u · amax for fp8_e4m3 (2^-4, relative to the row's largest finite
    /// magnitude). 0 for fp32 (exact).
    ///
    /// Outside the normal ranges: bf16 magnitudes below 2^-126 are within 2^-134
    /// absolute, and those ≥ 2^128 · (1 - 2^-9) become ±inf; fp16 magnitudes below 2^-14
    /// are within 2^-25 absolute, and those ≥ 65520 become ±inf; in fp8 rows whose amax
    /// is below 448 · 2^-126 (the scale's floor) add 2^-136 absolute.
    public static func unitRoundoff(_ p: WirePrecision) -> Float {
        switch p {
        case .fp32: return 0
        case .bf16: return 0x1p-8      // 7 stored mantissa bits
        case .fp16: return 0x1p-11     // 10 stored mantissa bits
        case .fp8E4M3: return 0x1p-4   // 3 stored mantissa bits, at the top of the range
        }
    }

    /// The fp8 scale of a row: max(largest finite magnitude / 448, 2^-126).
    @inline(__always)
    public static func e4m3Scale(_ src: UnsafePointer<Float>, hidden: Int) -> Float {
        max(Float(bitPattern: finiteMagnitudeBits(src, count: hidden)) / WireFormats.e4m3Max, .leastNormalMagnitude)
    }

    /// The bits of the largest finite magnitude among `count` floats at `src` (0 when
    /// there is none). On bit patterns, since magnitudes order as their bits do: an
    /// integer max reduction vectorizes where a Float one does not. NaN and ±inf (bits
    /// ≥ 0x7F80_0000 once the sign is cleared) count as 0. A function of its own: the
    /// same loop inlined into a row loop, or followed by the scale's division, was left
    /// scalar by the optimizer (measured: 20× slower).
    @inline(never)
    static func finiteMagnitudeBits(_ src: UnsafePointer<Float>, count: Int) -> UInt32 {
        var bits: UInt32 = 0
        for i in 0..<count {
            let a = src[i].bitPattern & 0x7FFF_FFFF
            bits = Swift.max(bits, a < 0x7F80_0000 ? a : 0)
        }
        return bits
    }

    // MARK: one row

    /// Encodes one row of `hidden` floats at `src` into the `bytesPerRow(p, hidden:)`
    /// bytes at `dst` (any alignment for fp8; 2-byte aligned for bf16/fp16).
    @inline(__always)
    public static func encodeRow(_ p: WirePrecision, src: UnsafePointer<Float>, hidden: Int,
                                 dst: UnsafeMutableRawPointer) {
        switch p {
        case .fp32:
            dst.copyMemory(from: src, byteCount: 4 * hidden)
        case .bf16:
            assert(Int(bitPattern: dst) & 1 == 0, "bf16 rows must be 2-byte aligned")
            let out = dst.assumingMemoryBound(to: UInt16.self)
            // Branch-free, so the compiler vectorizes it (Swift's SIMD masks and
            // narrowing conversions are not, and run many times slower).
            for i in 0..<hidden { out[i] = WireFormats.bf16BitsBranchFree(src[i]) }
        case .fp16:
            assert(Int(bitPattern: dst) & 1 == 0, "fp16 rows must be 2-byte aligned")
            let out = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { out[i] = WireFormats.fp16Bits(src[i]) }
        case .fp8E4M3:
            let scale = e4m3Scale(src, hidden: hidden)
            dst.storeBytes(of: scale, as: Float.self)
            let out = (dst + 4).assumingMemoryBound(to: UInt8.self)
            for i in 0..<hidden { out[i] = WireFormats.e4m3BitsBranchFree(src[i] / scale) }
        }
    }

    /// Decodes the row at `src` (`bytesPerRow(p, hidden:)` bytes, as `encodeRow` wrote
    /// it) into `hidden` floats at `dst`.
    @inline(__always)
    public static func decodeRow(_ p: WirePrecision, src: UnsafeRawPointer, hidden: Int,
                                 dst: UnsafeMutablePointer<Float>) {
        switch p {
        case .fp32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * hidden)
        case .bf16:
            assert(Int(bitPattern: src) & 1 == 0, "bf16 rows must be 2-byte aligned")
            let input = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { dst[i] = WireFormats.float(bf16: input[i]) }
        case .fp16:
            assert(Int(bitPattern: src) & 1 == 0, "fp16 rows must be 2-byte aligned")
            let input = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { dst[i] = WireFormats.float(fp16: input[i]) }
        case .fp8E4M3:
            let scale = src.loadUnaligned(as: Float.self)
            let input = (src + 4).assumingMemoryBound(to: UInt8.self)
            for i in 0..<hidden { dst[i] = WireFormats.float(e4m3: input[i]) * scale }
        }
    }

    /// `dst[i] += weight · decoded[i]` for the row at `src` (as `encodeRow` wrote it),
    /// i in 0..<hidden: the same floats as `decodeRow` into `scratch` [hidden] followed
    /// by that loop (each product rounded, then each sum), in one pass over the row for
    /// fp32 and bf16, whose decoding is a load or a shift; fp16 and fp8 decode into
    /// `scratch` first.
    @inline(__always)
    public static func addRow(_ p: WirePrecision, src: UnsafeRawPointer, hidden: Int, weight w: Float,
                              scratch: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
        switch p {
        case .fp32:
            let input = src.assumingMemoryBound(to: Float.self)
            for i in 0..<hidden { dst[i] += w * input[i] }
        case .bf16:
            assert(Int(bitPattern: src) & 1 == 0, "bf16 rows must be 2-byte aligned")
            let input = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<hidden { dst[i] += w * WireFormats.float(bf16: input[i]) }
        case .fp16, .fp8E4M3:
            decodeRow(p, src: src, hidden: hidden, dst: scratch)
            for i in 0..<hidden { dst[i] += w * scratch[i] }
        }
    }

    // MARK: contiguous blocks

    /// Encodes `count` contiguous rows `rows` [count × hidden] into `bytes`
    /// [count × bytesPerRow(p, hidden:)], row i at byte offset i · bytesPerRow.
    public static func encode(_ p: WirePrecision, rows: UnsafeBufferPointer<Float>, count: Int,
                              hidden: Int, into bytes: UnsafeMutableRawBufferPointer) {
        let rowBytes = bytesPerRow(p, hidden: hidden)
        precondition(count >= 0 && rows.count >= count * hidden && bytes.count >= count * rowBytes,
                     "encode: \(count) rows of \(hidden) need \(count * hidden) floats and \(count * rowBytes) bytes")
        guard count > 0, hidden > 0 else { return }
        let src = rows.baseAddress!, dst = bytes.baseAddress!
        for r in 0..<count { encodeRow(p, src: src + r * hidden, hidden: hidden, dst: dst + r * rowBytes) }
    }

    /// Decodes `count` contiguous encoded rows `bytes` [count × bytesPerRow(p, hidden:)]
    /// into `rows` [count × hidden].
    public static func decode(_ p: WirePrecision, bytes: UnsafeRawBufferPointer, count: Int,
                              hidden: Int, into rows: UnsafeMutableBufferPointer<Float>) {
        let rowBytes = bytesPerRow(p, hidden: hidden)
        precondition(count >= 0 && rows.count >= count * hidden && bytes.count >= count * rowBytes,
                     "decode: \(count) rows of \(hidden) need \(count * rowBytes) bytes and \(count * hidden) floats")
        guard count > 0, hidden > 0 else { return }
        let src = bytes.baseAddress!, dst = rows.baseAddress!
        for r in 0..<count { decodeRow(p, src: src + r * rowBytes, hidden: hidden, dst: dst + r * hidden) }
    }
}
