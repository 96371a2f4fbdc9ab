import XCTest
@testable import EpsimCore

/// The 1-D columns of a `--routing-format npy` dump: written and read back, refused
/// when they are not 1-D int32 or float32.
final class NpyColumnTests: XCTestCase {
    func testColumnsRoundTrip() throws {
        let ints: [Int32] = [0, -1, 7, .max, .min]
        XCTAssertEqual(try NpyColumn.parse(NpyColumn.encode(ints), path: "i.npy"), .int32(ints))
        let floats: [Float] = [0.25, -0.0, 1e-5, .greatestFiniteMagnitude]
        XCTAssertEqual(try NpyColumn.parse(NpyColumn.encode(floats), path: "f.npy"), .float32(floats))
        XCTAssertEqual(try NpyColumn.parse(NpyColumn.encode([Int32]()), path: "e.npy"), .int32([]))
        // The data starts on a 64-byte boundary, as NumPy writes it.
        let bytes = NpyColumn.encode(ints)
        XCTAssertEqual((bytes.count - 4 * ints.count) % 64, 0)
        XCTAssertEqual(Array(bytes[6..<8]), [1, 0])
    }

    func testOtherArraysAreRefused() throws {
        let matrix = NpyWriter.encode(rows: 2, cols: 2, data: [1, 2, 3, 4])
        XCTAssertThrowsError(try NpyColumn.parse(matrix, path: "m.npy")) { error in
            XCTAssertTrue("\(error)".contains("m.npy: expected a 1-D column, got shape (2, 2)"), "\(error)")
        }
        var truncated = NpyColumn.encode([Int32](repeating: 3, count: 4))
        truncated.removeLast(3)
        XCTAssertThrowsError(try NpyColumn.parse(truncated, path: "t.npy")) { error in
            XCTAssertTrue("\(error)".contains("t.npy: truncated data"), "\(error)")
        }
        let doubles = NpyWriter.header(descr: "<f8", shape: [1]) + [UInt8](repeating: 0, count: 8)
        XCTAssertThrowsError(try NpyColumn.parse(doubles, path: "d.npy")) { error in
            XCTAssertTrue("\(error)".contains("got '<f8'"), "\(error)")
        }
    }
}
