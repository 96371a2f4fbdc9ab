import XCTest
@testable import EpsimCore

final class WireCodecTests: XCTestCase {
    /// Nearest value of a format with `mantissaBits` stored bits, ties to even, computed
    /// in Double from the definition (normal range only).
    private func nearest(_ x: Float, mantissaBits: Int) -> Float {
        guard x != 0, x.isFinite else { return x }
        let e = Double(x).exponent
        let ulp = Double(sign: .plus, exponent: e - mantissaBits, significand: 1)
        let q = (Double(x) / ulp).rounded(.toNearestOrEven)
        return Float(q * ulp)
    }

    private func roundTrip(_ p: WirePrecision, _ row: [Float]) -> [Float] {
        var bytes = [UInt8](repeating: 0, count: WireCodec.bytesPerRow(p, hidden: row.count))
        var out = [Float](repeating: .nan, count: row.count)
        row.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { WireCodec.encodeRow(p, src: src.baseAddress!, hidden: row.count, dst: $0.baseAddress!) }
        }
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { WireCodec.decodeRow(p, src: raw.baseAddress!, hidden: row.count, dst: $0.baseAddress!) }
        }
        return out
    }

    func testBytesPerRow() {
        XCTAssertEqual(WireCodec.bytesPerRow(.fp32, hidden: 256), 1024)
        XCTAssertEqual(WireCodec.bytesPerRow(.bf16, hidden: 256), 512)
        XCTAssertEqual(WireCodec.bytesPerRow(.fp16, hidden: 256), 512)
        XCTAssertEqual(WireCodec.bytesPerRow(.fp8E4M3, hidden: 256), 260)
    }

    func testFP32IsBitExact() {
        let row: [Float] = [0, -0.0, 1, -3.25, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity]
        XCTAssertEqual(roundTrip(.fp32, row).map(\.bitPattern), row.map(\.bitPattern))
    }

    func testBF16RoundsToNearestEven() {
        var rng = TestRandom(seed: 5)
        var row: [Float] = (0..<2000).map { _ in Float(Double.random(in: -1000...1000, using: &rng)) }
        // Exact ties: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7; ties go to the even (1).
        row += [1 + 0x1p-8, 1 + 3 * 0x1p-8, -(1 + 0x1p-8)]
        let back = roundTrip(.bf16, row)
        for (x, y) in zip(row, back) { XCTAssertEqual(y, nearest(x, mantissaBits: 7), "\(x)") }
        XCTAssertEqual(back[back.count - 3], 1)
        XCTAssertEqual(back[back.count - 2], 1 + 4 * 0x1p-8)
        XCTAssertTrue(roundTrip(.bf16, [.nan])[0].isNaN)
    }

    func testFP16RoundsToNearestEvenAndOverflows() {
        var rng = TestRandom(seed: 6)
        let row: [Float] = (0..<2000).map { _ in Float(Double.random(in: -60000...60000, using: &rng)) }
        for (x, y) in zip(row, roundTrip(.fp16, row)) { XCTAssertEqual(y, nearest(x, mantissaBits: 10), "\(x)") }
        XCTAssertEqual(roundTrip(.fp16, [70000, -70000, 1 + 0x1p-11]), [.infinity, -.infinity, 1])
        XCTAssertEqual(roundTrip(.fp16, [0x1p-24])[0], 0x1p-24)  // smallest subnormal survives
    }

    func testFP8TableMatchesOCPE4M3() {
        let t = WireCodec.e4m3Table
        XCTAssertEqual(t[0x7E], 448)
        XCTAssertEqual(t[0x08], 0x1p-6)
        XCTAssertEqual(t[0x01], 0x1p-9)
        XCTAssertEqual(t[0x38], 1)
        XCTAssertEqual(t[0xB8], -1)
        XCTAssertTrue(t[0x7F].isNaN && t[0xFF].isNaN)
        // Every finite code encodes back to itself (0x80 is -0, which is 0x80).
        for code in 0..<256 where !t[code].isNaN {
            XCTAssertEqual(WireCodec.e4m3Bits(t[code]), UInt8(code), "code \(code)")
        }
        XCTAssertEqual(WireCodec.e4m3Bits(1000), 0x7E)       // saturates
        XCTAssertEqual(WireCodec.e4m3Bits(-1000), 0xFE)
        XCTAssertEqual(WireCodec.e4m3Bits(1 + 1.0 / 16), 0x38)  // tie between 1 and 1.125 -> even (1)
        XCTAssertEqual(WireCodec.e4m3Bits(1 + 3.0 / 16), 0x3A)  // tie between 1.125 and 1.25 -> even (1.25)
    }

    func testFP8RowScaleAndErrorBound() {
        var rng = TestRandom(seed: 7)
        for _ in 0..<50 {
            let row: [Float] = (0..<64).map { _ in Float(Double.random(in: -5...5, using: &rng)) }
            let amax = row.map(abs).max()!
            let back = roundTrip(.fp8E4M3, row)
            for (x, y) in zip(row, back) {
                XCTAssertLessThanOrEqual(abs(x - y), amax * WireCodec.unitRoundoff(.fp8E4M3) * 1.0001)
            }
            XCTAssertEqual(back[row.indices.max { abs(row[$0]) < abs(row[$1]) }!].magnitude, amax, accuracy: amax * 1e-6)
        }
        XCTAssertEqual(roundTrip(.fp8E4M3, [0, 0, 0]), [0, 0, 0])  // all-zero row: no NaN
    }
}
