import Foundation

/// A dense 2-D float32 array read from a NumPy .npy file, row-major.
public struct NpyArray: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    /// [rows × cols], row-major (C order).
    public var data: [Float]

    public init(rows: Int, cols: Int, data: [Float]) {
        precondition(rows >= 0 && cols >= 0 && data.count == rows * cols)
        self.rows = rows
        self.cols = cols
        self.data = data
    }
}

/// Reads NumPy .npy files: format versions 1.0, 2.0 and 3.0; dtype little-endian
/// float32 ('<f4') only; C order only; 2-D only.
///
/// Every problem is a one-line `ConfigError` at key path `workload.file` whose message
/// starts with the .npy path, e.g.
/// `run.yaml: workload.file: t.npy: expected float32 ('<f4'), got '<f8'`.
public enum NpyReader {
    public static let keyPath = "workload.file"
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// Reads `path`. `configFile` is the config that named it (for the message), if any.
    public static func read(path: String, configFile: String? = nil) throws(ConfigError) -> NpyArray {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: configFile, keyPath: keyPath, "\(path): cannot read file")
        }
        return try parse([UInt8](data), path: path, configFile: configFile)
    }

    /// Parses the bytes of a .npy file; `path` only names it in messages.
    public static func parse(
        _ bytes: [UInt8], path: String, configFile: String? = nil
    ) throws(ConfigError) -> NpyArray {
        func fail(_ message: String) -> ConfigError {
            ConfigError(file: configFile, keyPath: keyPath, "\(path): \(message)")
        }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6], minor = bytes[7]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major).\(minor) (expected 1.0, 2.0 or 3.0)")
        }
        let dataStart = headerStart + headerLength
        guard dataStart <= bytes.count else { throw fail("truncated .npy header") }
        guard let text = String(bytes: bytes[headerStart..<dataStart], encoding: major == 3 ? .utf8 : .isoLatin1)
        else { throw fail("unreadable .npy header") }
        guard let header = NpyHeader(parsing: text) else {
            throw fail("malformed .npy header: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard header.descr == "<f4" else { throw fail("expected float32 ('<f4'), got '\(header.descr)'") }
        guard !header.fortranOrder else { throw fail("expected C order, got fortran_order=True") }
        guard header.shape.count == 2 else {
            throw fail("expected a 2-D array [tokens, experts], got shape \(NpyHeader.shapeText(header.shape))")
        }
        let rows = header.shape[0], cols = header.shape[1]
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        let need = count * 4
        guard !overflow, bytes.count - dataStart >= need else {
            throw fail("truncated data: shape (\(rows), \(cols)) needs \(need) bytes, file has \(bytes.count - dataStart)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    let bits = raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self)
                    out[i] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            }
        }
        return NpyArray(rows: rows, cols: cols, data: values)
    }
}

/// Writes 2-D little-endian float32 C-order .npy files (format 1.0).
public enum NpyWriter {
    /// Writes `data` [rows × cols], row-major, to `path`.
    public static func write(path: String, rows: Int, cols: Int, data: [Float]) throws {
        try Data(encode(rows: rows, cols: cols, data: data)).write(to: URL(fileURLWithPath: path))
    }

    /// The bytes of the file `write` would produce.
    public static func encode(rows: Int, cols: Int, data: [Float]) -> [UInt8] {
        precondition(rows >= 0 && cols >= 0 && data.count == rows * cols,
                     "npy: \(data.count) values for shape (\(rows), \(cols))")
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(cols)), }"
        // Pad with spaces so the data starts on a 64-byte boundary; the header ends in '\n'.
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let length = dict.utf8.count
        precondition(length <= 0xFFFF)
        var out = NpyReader.magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(dict.utf8)
        out.reserveCapacity(out.count + 4 * data.count)
        for v in data {
            var bits = v.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { out.append(contentsOf: $0) }
        }
        return out
    }
}
