import XCTest
@testable import EpsimCore

/// Whole rows through `WireCodec`: byte counts, the fp8 scale, block and scattered
/// variants, and the documented error bounds.
final class WireCodecTests: XCTestCase {
    private func encode(_ p: WirePrecision, _ rows: [Float], hidden: Int) -> [UInt8] {
        let count = hidden == 0 ? 0 : rows.count / hidden
        var bytes = [UInt8](repeating: 0xAA, count: count * WireCodec.bytesPerRow(p, hidden: hidden))
        rows.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { WireCodec.encode(p, rows: src, count: count, hidden: hidden, into: $0) }
        }
        return bytes
    }

    private func decode(_ p: WirePrecision, _ bytes: [UInt8], count: Int, hidden: Int) -> [Float] {
        var rows = [Float](repeating: .nan, count: count * hidden)
        bytes.withUnsafeBytes { raw in
            rows.withUnsafeMutableBufferPointer { WireCodec.decode(p, bytes: raw, count: count, hidden: hidden, into: $0) }
        }
        return rows
    }

    private func roundTrip(_ p: WirePrecision, _ row: [Float]) -> [Float] {
        decode(p, encode(p, row, hidden: row.count), count: 1, hidden: row.count)
    }

    func testBytesPerRowCountsTheScale() {
        XCTAssertEqual(WireCodec.bytesPerRow(.fp32, hidden: 256), 1024)
        XCTAssertEqual(WireCodec.bytesPerRow(.bf16, hidden: 256), 512)
        XCTAssertEqual(WireCodec.bytesPerRow(.fp16, hidden: 256), 512)
        XCTAssertEqual(WireCodec.bytesPerRow(.fp8E4M3, hidden: 256), 260)
        XCTAssertEqual(WireCodec.bytesPerRow(.fp8E4M3, hidden: 5), 9)
    }

    func testFP32IsBitExact() {
        let row: [Float] = [0, -0.0, 1, -3.25, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity,
                            Float(bitPattern: 0x7FC0_1234)]
        XCTAssertEqual(roundTrip(.fp32, row).map(\.bitPattern), row.map(\.bitPattern))
    }

    func testNarrowRowsUseTheElementConversions() {
        var rng = TestRandom(seed: 3)
        // Random values plus the special cases, inside the 8-lane body and in the tail:
        // NaNs (quiet and signalling), infinities, ties at both parities, the largest
        // finite (rounds to inf in bf16), subnormals and signed zeros.
        var row = (0..<33).map { _ in Float.random(in: -100...100, using: &rng) }
        let special: [Float] = [.nan, Float(bitPattern: 0x7F80_0001), .infinity, -.infinity,
                                Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                                .greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 0]
        for (i, x) in special.enumerated() { row[i * 3] = x }
        row[32] = .nan
        let bf = encode(.bf16, row, hidden: 33), fp = encode(.fp16, row, hidden: 33)
        for (i, x) in row.enumerated() {
            XCTAssertEqual(UInt16(bf[2 * i]) | UInt16(bf[2 * i + 1]) << 8, WireFormats.bf16Bits(x))
            XCTAssertEqual(UInt16(fp[2 * i]) | UInt16(fp[2 * i + 1]) << 8, WireFormats.fp16Bits(x))
        }
    }

    func testFP8RowHoldsItsScaleThenTheScaledCodes() {
        let row: [Float] = [3, -7, 0.01, 0, 6.999, -0.0]
        let bytes = encode(.fp8E4M3, row, hidden: row.count)
        XCTAssertEqual(bytes.count, 4 + row.count)
        let scale = bytes.withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        XCTAssertEqual(scale, 7 / 448)
        for (i, x) in row.enumerated() { XCTAssertEqual(bytes[4 + i], WireFormats.e4m3Bits(x / scale)) }
        XCTAssertEqual(bytes[4 + 1], 0xFE)  // the largest magnitude is code ±448
        let back = roundTrip(.fp8E4M3, row)
        XCTAssertEqual(back[1], -7, accuracy: 7 * 0x1p-22)
        XCTAssertEqual(back[3], 0)
    }

    func testFP8SpecialRowsGiveNoSpuriousNaN() {
        let zeros = roundTrip(.fp8E4M3, [0, 0, -0.0])
        XCTAssertEqual(zeros, [0, 0, 0])
        let scale = encode(.fp8E4M3, [0, 0], hidden: 2).withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        XCTAssertEqual(scale, .leastNormalMagnitude)
        // A row far below 448 · 2^-126: scale at its floor, still finite, no NaN.
        // Subnormal Floats (2^-133 and -2^-128), spelled so nothing rounds at compile time.
        let small = Float(sign: .plus, exponent: -133, significand: 1), larger = -Float(sign: .plus, exponent: -128, significand: 1)
        let tiny = roundTrip(.fp8E4M3, [small, larger, 0])
        XCTAssertFalse(tiny.contains { $0.isNaN })
        XCTAssertEqual(tiny[1], larger, accuracy: -larger * 0x1p-4)
        // Non-finite elements: the scale comes from the finite ones; inf saturates.
        let special = roundTrip(.fp8E4M3, [2, .nan, .infinity, -.infinity, -1])
        XCTAssertTrue(special[1].isNaN)
        XCTAssertEqual([special[0], special[2], special[3], special[4]], [2, 2, -2, -1])
    }

    func testBlockEqualsScatteredRowsIncludingUnalignedFP8() {
        var rng = TestRandom(seed: 4)
        let H = 5, count = 7
        let rows = (0..<(count * H)).map { _ in Float.random(in: -9...9, using: &rng) }
        for p in WirePrecision.allCases {
            let rowBytes = WireCodec.bytesPerRow(p, hidden: H)
            let block = encode(p, rows, hidden: H)
            var scattered = [UInt8](repeating: 0, count: count * rowBytes)
            var back = [Float](repeating: .nan, count: count * H)
            rows.withUnsafeBufferPointer { src in
                scattered.withUnsafeMutableBytes { dst in
                    for r in (0..<count).reversed() {
                        WireCodec.encodeRow(p, src: src.baseAddress! + r * H, hidden: H, dst: dst.baseAddress! + r * rowBytes)
                    }
                }
            }
            XCTAssertEqual(block, scattered, "\(p)")
            scattered.withUnsafeBytes { src in
                back.withUnsafeMutableBufferPointer { dst in
                    for r in 0..<count {
                        WireCodec.decodeRow(p, src: src.baseAddress! + r * rowBytes, hidden: H, dst: dst.baseAddress! + r * H)
                    }
                }
            }
            XCTAssertEqual(back.map(\.bitPattern), decode(p, block, count: count, hidden: H).map(\.bitPattern), "\(p)")
        }
        XCTAssertEqual(encode(.fp8E4M3, [], hidden: 4), [])  // zero rows: nothing written
    }

    func testRoundTripErrorWithinDocumentedBound() {
        var rng = TestRandom(seed: 7)
        for p in WirePrecision.allCases {
            let u = Double(WireCodec.unitRoundoff(p))
            for _ in 0..<200 {
                // Rows of N(0,1)-like values at a random magnitude, some entries tiny.
                let magnitude = Double(sign: .plus, exponent: Int.random(in: -8...8, using: &rng), significand: 1)
                let row = (0..<64).map { i -> Float in
                    let x = Float(Double.random(in: -3...3, using: &rng) * magnitude)
                    return i % 16 == 0 ? x * 1e-4 : x
                }
                let amax = Double(row.map(abs).max()!)
                for (x, y) in zip(row, roundTrip(p, row)) {
                    let err = abs(Double(y) - Double(x))
                    switch p {
                    case .fp32: XCTAssertEqual(err, 0)
                    case .bf16: XCTAssertLessThanOrEqual(err, u * abs(Double(x)))
                    case .fp16: XCTAssertLessThanOrEqual(err, max(u * abs(Double(x)), 0x1p-25))
                    case .fp8E4M3: XCTAssertLessThanOrEqual(err, u * amax)
                    }
                }
            }
        }
    }
}
