import XCTest
@testable import EpsimCore

/// The per-element conversions against slow reference conversions computed in Double
/// from the definition of each format.
final class WireFormatTests: XCTestCase {
    struct Format {
        var mantissaBits: Int, minExponent: Int, maxFinite: Double, saturates: Bool
        static let bf16 = Format(mantissaBits: 7, minExponent: -126, maxFinite: 0x1.FEp127, saturates: false)
        static let fp16 = Format(mantissaBits: 10, minExponent: -14, maxFinite: 65504, saturates: false)
        static let e4m3 = Format(mantissaBits: 3, minExponent: -6, maxFinite: 448, saturates: true)
    }

    /// The value of `f` nearest to x, ties to even; beyond the largest finite value,
    /// ±inf or (saturating formats) ±maxFinite.
    static func nearest(_ x: Float, in f: Format) -> Float {
        let d = Double(x)
        if d.isNaN || d == 0 { return x }
        let tooBig = f.saturates ? Float(d < 0 ? -f.maxFinite : f.maxFinite) : (d < 0 ? -.infinity : .infinity)
        if d.isInfinite { return tooBig }
        let ulp = Double(sign: .plus, exponent: max(Int(d.exponent), f.minExponent) - f.mantissaBits, significand: 1)
        let q = (d / ulp).rounded(.toNearestOrEven) * ulp  // exact: a power-of-two scaling
        return abs(q) > f.maxFinite ? tooBig : Float(q)
    }

    /// Random floats of every exponent (random bit patterns, NaNs included), plus the
    /// edge values of each format.
    static let samples: [Float] = {
        var rng = TestRandom(seed: 11)
        var xs = (0..<200_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let edges: [Float] = [
            0, 1, 0x1p-24, 0x1p-25, 3 * 0x1p-25, 0x1p-14, 0x1p-15, 0x1.FFCp-15, 65504, 65519, 65520,
            65535, 65536, 1e6, 448, 449, 463, 464, 480, 0x1p-6, 0x1p-9, 0x1p-10, 3 * 0x1p-10, 0x1.Cp-7,
            .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 0x1.FEp127,
            0x1.FF7FFEp127, 0x1.FF8p127, .infinity, .nan, Float(bitPattern: 0x7F80_0001),
            Float(bitPattern: 0x7FC0_1234), 1 + 0x1p-8, 1 + 0x1p-11, 1 + 0x1p-4, 1 + 3 * 0x1p-4,
        ]
        xs += edges + edges.map { -$0 }
        xs += (0..<50_000).map { _ in Float.random(in: -70_000...70_000, using: &rng) }
        xs += (0..<50_000).map { _ in Float.random(in: -500...500, using: &rng) }
        return xs
    }()

    /// Ties (midpoints of neighbouring values of the format, as Floats), their neighbours
    /// on both sides, for every pair of neighbouring finite codes.
    static func ties(values: [Float]) -> [Float] {
        let sorted = Set(values.filter { $0.isFinite && $0 >= 0 }).sorted()
        var xs: [Float] = []
        for (lo, hi) in zip(sorted, sorted.dropFirst()) {
            let mid = Float((Double(lo) + Double(hi)) / 2)
            XCTAssertEqual(Double(mid), (Double(lo) + Double(hi)) / 2, "midpoint must be exact")
            for v in [mid, mid.nextUp, mid.nextDown] { xs += [v, -v] }
        }
        return xs
    }

    private func checkEncoder(_ format: Format, _ inputs: [Float], encode: (Float) -> Float,
                              file: StaticString = #filePath, line: UInt = #line) {
        var failures = 0
        for x in inputs {
            let got = encode(x), want = Self.nearest(x, in: format)
            let ok = want.isNaN ? got.isNaN : got.bitPattern == want.bitPattern
            if !ok && failures < 10 {
                failures += 1
                XCTFail("\(x) (0x\(String(x.bitPattern, radix: 16))): got \(got), want \(want)", file: file, line: line)
            }
        }
    }

    func testBranchFreeBF16EqualsTheReferenceConversion() {
        // Every exponent and both rounding parities, plus NaN payloads and infinities.
        var state: UInt32 = 12345
        for _ in 0..<200_000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            let x = Float(bitPattern: state)
            XCTAssertEqual(WireFormats.bf16BitsBranchFree(x), WireFormats.bf16Bits(x), "bits \(state)")
        }
        for bits: UInt32 in [0x7F80_0000, 0xFF80_0000, 0x7F80_0001, 0x7FC0_0000, 0xFFFF_FFFF, 0x3F80_8000, 0x3F81_8000, 0x7F7F_FFFF] {
            XCTAssertEqual(WireFormats.bf16BitsBranchFree(Float(bitPattern: bits)), WireFormats.bf16Bits(Float(bitPattern: bits)))
        }
    }

    func testBranchFreeE4M3EqualsTheBranchingConversion() {
        // Random bit patterns (every exponent, NaN payloads), every code's value and the
        // ties between neighbouring codes, the saturation and subnormal boundaries.
        var state: UInt32 = 6789
        var inputs: [Float] = []
        for _ in 0..<200_000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            inputs.append(Float(bitPattern: state))
        }
        let t = WireFormats.e4m3Table
        inputs += t + Self.ties(values: t) + Self.samples
        for bits: UInt32 in [0x7F80_0000, 0xFF80_0000, 0x7F80_0001, 0x7FC0_0000, 0xFFFF_FFFF, 0x43E0_0000, 0x43DF_FFFF,
                             0x3C80_0000, 0x3C7F_FFFF, 0x0000_0001, 0x8000_0000] {
            inputs.append(Float(bitPattern: bits))
        }
        var failures = 0
        for x in inputs where WireFormats.e4m3BitsBranchFree(x) != WireFormats.e4m3Bits(x) && failures < 10 {
            failures += 1
            XCTFail("0x\(String(x.bitPattern, radix: 16)): branch-free 0x\(String(WireFormats.e4m3BitsBranchFree(x), radix: 16)), branching 0x\(String(WireFormats.e4m3Bits(x), radix: 16))")
        }
        XCTAssertEqual(failures, 0)
    }

    func testE4M3DecodingWithoutTableEqualsTheTable() {
        for code in 0..<256 {
            let want = WireFormats.e4m3Table[code], got = WireFormats.float(e4m3: UInt8(code))
            XCTAssertEqual(got.bitPattern, want.bitPattern, "code 0x\(String(code, radix: 16)): \(got), table \(want)")
        }
    }

    func testBF16MatchesReferenceOnRandomEdgeAndTieValues() {
        let all = (0..<65536).map { WireFormats.float(bf16: UInt16($0)) }
        let inputs = Self.samples + Self.ties(values: all)
        checkEncoder(.bf16, inputs) { WireFormats.float(bf16: WireFormats.bf16Bits($0)) }
        // Ties go to the even neighbour.
        XCTAssertEqual(WireFormats.bf16Bits(1 + 0x1p-8), 0x3F80)
        XCTAssertEqual(WireFormats.bf16Bits(1 + 3 * 0x1p-8), 0x3F82)
        XCTAssertEqual(WireFormats.bf16Bits(.greatestFiniteMagnitude), 0x7F80)  // rounds to inf
        XCTAssertEqual(WireFormats.bf16Bits(-.infinity), 0xFF80)
    }

    func testBF16EveryCodeRoundTripsAndNaNStaysNaN() {
        for c in 0..<65536 {
            let v = WireFormats.float(bf16: UInt16(c))
            XCTAssertEqual(v.bitPattern, UInt32(c) << 16)
            if v.isNaN {
                XCTAssertTrue(WireFormats.float(bf16: WireFormats.bf16Bits(v)).isNaN, "code \(c)")
            } else {
                XCTAssertEqual(WireFormats.bf16Bits(v), UInt16(c), "code \(c)")
            }
        }
        // A signalling NaN whose payload is all in the dropped bits is still NaN.
        XCTAssertTrue(WireFormats.float(bf16: WireFormats.bf16Bits(Float(bitPattern: 0x7F80_0001))).isNaN)
    }

    func testFP16MatchesReferenceOnRandomEdgeAndTieValues() {
        let all = (0..<65536).map { WireFormats.float(fp16: UInt16($0)) }
        let inputs = Self.samples + Self.ties(values: all)
        checkEncoder(.fp16, inputs) { WireFormats.float(fp16: WireFormats.fp16Bits($0)) }
        XCTAssertEqual(WireFormats.fp16Bits(1 + 0x1p-11), 0x3C00)       // tie to even (down)
        XCTAssertEqual(WireFormats.fp16Bits(1 + 3 * 0x1p-11), 0x3C02)   // tie to even (up)
        XCTAssertEqual(WireFormats.fp16Bits(65519), 0x7BFF)             // below the overflow tie
        XCTAssertEqual(WireFormats.fp16Bits(65520), 0x7C00)             // the tie overflows to inf
        XCTAssertEqual(WireFormats.fp16Bits(-1e9), 0xFC00)
        XCTAssertEqual(WireFormats.fp16Bits(0x1p-24), 0x0001)           // smallest subnormal
        XCTAssertEqual(WireFormats.fp16Bits(0x1p-25), 0x0000)           // tie to even: zero
        XCTAssertEqual(WireFormats.fp16Bits(3 * 0x1p-25), 0x0002)       // tie to even: 2 units
        XCTAssertEqual(WireFormats.fp16Bits(-0x1p-26), 0x8000)          // -0 keeps its sign
        XCTAssertEqual(WireFormats.fp16Bits(.nan), 0x7E00)
        XCTAssertEqual(WireFormats.fp16Bits(-.nan), 0xFE00)
    }

    func testFP16AgreesWithSwiftFloat16() {
        for x in Self.samples where !x.isNaN {
            XCTAssertEqual(WireFormats.fp16Bits(x), Float16(x).bitPattern, "\(x)")
        }
        for c in 0..<65536 {
            let h = Float16(bitPattern: UInt16(c)), v = WireFormats.float(fp16: UInt16(c))
            if h.isNaN {
                XCTAssertTrue(v.isNaN, "code \(c)")
                XCTAssertEqual(WireFormats.fp16Bits(v) & 0x7C00, 0x7C00)
            } else {
                XCTAssertEqual(v.bitPattern, Float(h).bitPattern, "code \(c)")
                XCTAssertEqual(WireFormats.fp16Bits(v), UInt16(c), "code \(c)")  // every code round-trips
            }
        }
    }

    func testE4M3TableIsOCPE4M3FN() {
        let t = WireFormats.e4m3Table
        XCTAssertEqual(t.count, 256)
        let spots: [(Int, Float)] = [(0x00, 0), (0x01, 0x1p-9), (0x07, 7 * 0x1p-9), (0x08, 0x1p-6),
                                     (0x38, 1), (0x3A, 1.25), (0x70, 128), (0x77, 240), (0x7D, 416),
                                     (0x7E, 448), (0xB8, -1), (0xFE, -448), (0x81, -0x1p-9)]
        for (code, value) in spots { XCTAssertEqual(t[code], value, "code 0x\(String(code, radix: 16))") }
        XCTAssertEqual(t[0x80].bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual((0..<256).filter { t[$0].isNaN }, [0x7F, 0xFF])  // no infinity, two NaNs
        for c in 0..<0x7E { XCTAssertLessThan(t[c], t[c + 1]) }        // increasing
        for c in 0..<0x7F { XCTAssertEqual(t[c | 0x80].bitPattern, (-t[c]).bitPattern) }
    }

    func testE4M3EncodesEveryCodeBackAndMatchesReference() {
        let t = WireFormats.e4m3Table
        for code in 0..<256 where !t[code].isNaN {
            XCTAssertEqual(WireFormats.e4m3Bits(t[code]), UInt8(code), "code 0x\(String(code, radix: 16))")
        }
        checkEncoder(.e4m3, Self.samples + Self.ties(values: t)) { t[Int(WireFormats.e4m3Bits($0))] }
        XCTAssertEqual(WireFormats.e4m3Bits(1 + 0x1p-4), 0x38)      // tie between 1 and 1.125 -> 1
        XCTAssertEqual(WireFormats.e4m3Bits(1 + 3 * 0x1p-4), 0x3A)  // tie between 1.125 and 1.25 -> 1.25
        XCTAssertEqual(WireFormats.e4m3Bits(0x1p-10), 0x00)         // half the smallest subnormal -> 0
        XCTAssertEqual(WireFormats.e4m3Bits(464), 0x7E)             // would round to 480: saturates
        XCTAssertEqual(WireFormats.e4m3Bits(1e30), 0x7E)
        XCTAssertEqual(WireFormats.e4m3Bits(-.infinity), 0xFE)
        XCTAssertEqual(WireFormats.e4m3Bits(.nan), 0x7F)
        XCTAssertEqual(WireFormats.e4m3Bits(-.nan), 0xFF)
    }
}
