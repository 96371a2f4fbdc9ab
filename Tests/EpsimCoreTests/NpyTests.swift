import Foundation
import XCTest
@testable import EpsimCore

final class NpyTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// numpy 2.x `np.save` of [[1, 2, 3], [4, 5, -6.5]] as '<f4' in format 1.0
    /// (`format.write_array(f, a, version=(1, 0))`).
    static let numpyV1 = hex(
        "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c" +
        "20277368617065273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020202020" +
        "2020202020202020202020202020202020202020202020202020200a0000803f0000004000004040000080400000a0400000" +
        "d0c0")
    /// The same array in formats 2.0 and 3.0 (4-byte header length).
    static func numpyV2(major: UInt8) -> [UInt8] {
        var bytes = hex(
            "934e554d50590200740000007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73" +
            "652c20277368617065273a2028322c2033292c207d2020202020202020202020202020202020202020202020202020202020" +
            "2020202020202020202020202020202020202020202020202020200a0000803f0000004000004040000080400000a0400000" +
            "d0c0")
        bytes[6] = major
        return bytes
    }
    static let expected = NpyArray(rows: 2, cols: 3, data: [1, 2, 3, 4, 5, -6.5])

    static func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    func testReadsNumpyOutputInAllThreeVersions() throws {
        XCTAssertEqual(try NpyReader.parse(Self.numpyV1, path: "a.npy"), Self.expected)
        XCTAssertEqual(try NpyReader.parse(Self.numpyV2(major: 2), path: "a.npy"), Self.expected)
        XCTAssertEqual(try NpyReader.parse(Self.numpyV2(major: 3), path: "a.npy"), Self.expected)
    }

    func testWriterProducesNumpysBytes() {
        XCTAssertEqual(NpyWriter.encode(rows: 2, cols: 3, data: Self.expected.data), Self.numpyV1)
    }

    func testRoundTripThroughAFile() throws {
        var g = SeededRandom(seed: 5)
        for (rows, cols) in [(0, 4), (1, 1), (7, 3), (100, 64)] {
            var data = (0..<(rows * cols)).map { _ in Float(g.nextNormal()) }
            if data.count >= 3 { data[0] = -0.0; data[1] = .infinity; data[2] = .leastNonzeroMagnitude }
            let p = path("r\(rows)x\(cols).npy")
            try NpyWriter.write(path: p, rows: rows, cols: cols, data: data)
            let a = try NpyReader.read(path: p)
            XCTAssertEqual(a.rows, rows)
            XCTAssertEqual(a.cols, cols)
            XCTAssertEqual(a.data.map(\.bitPattern), data.map(\.bitPattern))
            let size = try FileManager.default.attributesOfItem(atPath: p)[.size] as! Int
            XCTAssertEqual((size - 4 * rows * cols) % 64, 0, "header must end on a 64-byte boundary")
        }
    }

    // MARK: errors (the text users see is pinned)

    func message(_ bytes: [UInt8]) -> String {
        do {
            _ = try NpyReader.parse(bytes, path: "t.npy", configFile: "run.yaml")
            return "no error"
        } catch {
            return error.description
        }
    }

    /// The format-1.0 bytes of a file whose header dict is `dict` and data `data`.
    func file(_ dict: String, data: [UInt8] = []) -> [UInt8] {
        let header = Array(dict.utf8) + [0x0A]
        return NpyReader.magic + [1, 0, UInt8(header.count), 0] + header + data
    }

    func testUnreadableFile() {
        XCTAssertThrowsError(try NpyReader.read(path: path("missing.npy"), configFile: "run.yaml")) {
            XCTAssertEqual(($0 as! ConfigError).description,
                           "run.yaml: workload.file: \(self.path("missing.npy")): cannot read file: No such file or directory")
        }
        // A directory or a FIFO is refused before any read (a FIFO once blocked for ever).
        XCTAssertThrowsError(try NpyReader.read(path: dir.path, configFile: "run.yaml")) {
            XCTAssertEqual(($0 as! ConfigError).description,
                           "run.yaml: workload.file: \(self.dir.path): cannot read file: a directory, not a regular file")
        }
        XCTAssertEqual(mkfifo(path("f.npy"), 0o600), 0)
        XCTAssertThrowsError(try NpyReader.read(path: path("f.npy"), configFile: "run.yaml")) {
            XCTAssertEqual(($0 as! ConfigError).description,
                           "run.yaml: workload.file: \(self.path("f.npy")): cannot read file: a FIFO or pipe, not a regular file")
        }
    }

    func testBadMagic() {
        XCTAssertEqual(message(Array("hello, world".utf8)),
                       "run.yaml: workload.file: t.npy: not a NumPy .npy file (bad magic)")
        XCTAssertEqual(message([0x93, 0x4E]), "run.yaml: workload.file: t.npy: not a NumPy .npy file (bad magic)")
    }

    func testUnsupportedVersion() {
        var bytes = Self.numpyV1
        bytes[6] = 4
        XCTAssertEqual(message(bytes),
                       "run.yaml: workload.file: t.npy: unsupported .npy format version 4.0 (expected 1.0, 2.0 or 3.0)")
    }

    func testWrongDtypeIsNamed() {
        XCTAssertEqual(message(file("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", data: [UInt8](repeating: 0, count: 8))),
                       "run.yaml: workload.file: t.npy: expected float32 ('<f4'), got '<f8'")
        XCTAssertEqual(message(file("{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }", data: [0, 0, 0, 0])),
                       "run.yaml: workload.file: t.npy: expected float32 ('<f4'), got '>f4'")
    }

    func testFortranOrder() {
        XCTAssertEqual(message(file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }")),
                       "run.yaml: workload.file: t.npy: expected C order, got fortran_order=True")
    }

    func testWrongRank() {
        XCTAssertEqual(message(file("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }")),
                       "run.yaml: workload.file: t.npy: expected a 2-D array [tokens, experts], got shape (6,)")
        XCTAssertEqual(message(file("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }")),
                       "run.yaml: workload.file: t.npy: expected a 2-D array [tokens, experts], got shape (1, 2, 3)")
    }

    func testTruncatedData() {
        XCTAssertEqual(message(file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data: [0, 0, 0, 0])),
                       "run.yaml: workload.file: t.npy: truncated data: shape (2, 3) needs 24 bytes, file has 4")
    }

    func testMalformedHeader() {
        XCTAssertEqual(message(file("{'descr': '<f4', 'shape': (2, 3)}")),
                       "run.yaml: workload.file: t.npy: malformed .npy header: {'descr': '<f4', 'shape': (2, 3)}")
    }

    func testHeaderParserAcceptsNumpyVariants() {
        XCTAssertEqual(NpyHeader(parsing: "{'descr':'<f4','fortran_order':False,'shape':(3L, 4L)}")?.shape, [3, 4])
        XCTAssertEqual(NpyHeader(parsing: "{\"shape\": (), \"fortran_order\": False, \"descr\": \"<f4\"}")?.shape, [])
        XCTAssertNil(NpyHeader(parsing: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }"))
    }

    /// Anything after the dict but NumPy's padding makes the header malformed.
    func testTrailingGarbageAfterTheHeaderDict() {
        XCTAssertEqual(NpyHeader(parsing: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }   \n")?.shape,
                       [1, 1])
        XCTAssertNil(NpyHeader(parsing: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }xyz"))
        XCTAssertEqual(message(file("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }xyz", data: [0, 0, 0, 0])),
                       "run.yaml: workload.file: t.npy: malformed .npy header: "
                       + "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }xyz")
    }
}
