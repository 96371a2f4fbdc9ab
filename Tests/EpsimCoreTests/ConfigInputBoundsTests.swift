import XCTest
import Foundation
@testable import EpsimCore

/// What a config reads is bounded: the file's size, the expanded document, .npy headers;
/// malformed input is one short line naming the file and the line.
final class ConfigInputBoundsTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("epsim-bounds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func loadError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try ConfigLoader.load(path: path)
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch { return "\(error)" }
    }

    /// A device, a FIFO nobody writes and a directory are refused before any read (a
    /// FIFO once blocked the run for ever); a regular file past 16 MiB stops at the bound.
    func testOnlyRegularFilesAreReadAndOnlyUpToTheBound() throws {
        XCTAssertEqual(loadError("/dev/zero"), "/dev/zero: cannot read file: a device, not a regular file")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bounds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("f.yaml").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertEqual(loadError(fifo), "\(fifo): cannot read file: a FIFO or pipe, not a regular file")
        XCTAssertEqual(loadError(dir.path), "\(dir.path): cannot read file: a directory, not a regular file")
        let big = dir.appendingPathComponent("big.yaml").path
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: nil))
        XCTAssertEqual(truncate(big, 17 << 20), 0)
        XCTAssertEqual(loadError(big), "\(big): larger than 16 MiB; a config is a small YAML file")
    }

    func testAliasBombUnderAnUnknownKeyIsRefusedByNodeCount() throws {
        var lines = ["  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in 1..<9 {
            lines.append("  a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]")
        }
        let path = dir.appendingPathComponent("bomb.yaml").path
        try ("unknown_thing:\n" + lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(loadError(path),
                       "\(path): the document expands to more than 1000000 nodes (through aliases?); a config needs far fewer")
    }

    func testComplexKeyIsOneShortLine() throws {
        let path = dir.appendingPathComponent("complex.yaml").path
        try "steps: 2\n? [a, b]\n: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(loadError(path), "\(path): a key must be a name, got a list at line 2")
    }

    private func npy(_ name: String, shape: String, dataBytes: Int) throws -> String {
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        dict += String(repeating: " ", count: (64 - (10 + dict.utf8.count + 1) % 64) % 64) + "\n"
        let bytes = NpyReader.magic + [1, 0, UInt8(dict.utf8.count & 0xFF), UInt8(dict.utf8.count >> 8)]
            + Array(dict.utf8) + [UInt8](repeating: 0, count: dataBytes)
        let path = dir.appendingPathComponent(name).path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func testNpyHeaderIsCheckedBeforeData() throws {
        let huge = try npy("huge.npy", shape: "(576460752303423488, 8)", dataBytes: 64)
        XCTAssertThrowsError(try NpyReader.read(path: huge)) { error in
            XCTAssertEqual("\(error)", "workload.file: \(huge): shape (576460752303423488, 8) is more than 2^63 bytes of data")
        }
        let short = try npy("short.npy", shape: "(1000, 8)", dataBytes: 64)
        XCTAssertThrowsError(try NpyReader.read(path: short)) { error in
            XCTAssertEqual("\(error)", "workload.file: \(short): truncated data: shape (1000, 8) needs 32000 bytes, file has 64")
        }
        let fits = try npy("fits.npy", shape: "(1000, 8)", dataBytes: 32000)
        XCTAssertThrowsError(try NpyReader.read(path: fits, memoryLimit: 1000)) { error in
            XCTAssertTrue("\(error)".contains("(1000, 8) needs 62.5 KiB to read, more than the 1000 B available"), "\(error)")
        }
        XCTAssertEqual(try NpyReader.read(path: fits).rows, 1000)
        // validate reads the header only and names the override that gave the file.
        let c = try ConfigLoader.parse(yaml: "model: {experts: 8}\ntokens: 4", file: "t.yaml",
                                       overrides: ["workload={kind: trace, file: \(huge)}"])
        XCTAssertThrowsError(try ConfigLoader.validate(c, worldSize: 2)) { error in
            XCTAssertTrue("\(error)".hasPrefix("--set workload={kind: trace, file: \(huge)}: workload.file: \(huge): shape"), "\(error)")
        }
    }
}
