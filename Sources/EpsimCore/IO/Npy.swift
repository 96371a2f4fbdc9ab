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
/// The header is read and checked before any data: a shape whose byte size overflows,
/// exceeds what the file holds, or exceeds `memoryLimit` is an error before anything
/// that size is allocated. Every problem is a one-line `ConfigError` at key path
/// `workload.file` whose message starts with the .npy path, e.g.
/// `run.yaml: workload.file: t.npy: expected float32 ('<f4'), got '<f8'`.
public enum NpyReader {
    public static let keyPath = "workload.file"
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
    /// The longest header accepted (NumPy itself refuses headers over 10 000 bytes by default).
    static let maxHeaderBytes = 1 << 20

    /// What the header says: the shape, and where the data starts.
    struct Layout {
        var rows: Int
        var cols: Int
        var dataStart: Int
        /// rows × cols × 4, checked for overflow.
        var dataBytes: Int
    }

    /// Reads `path`. `configFile` is the config that named it (for the message), if any.
    /// `memoryLimit` bounds the bytes reading may take (the data twice: as bytes, then
    /// as floats); nil: what the system has now (`MemoryLimit.current()`).
    public static func read(path: String, configFile: String? = nil, memoryLimit: Double? = nil) throws(ConfigError) -> NpyArray {
        try withHeader(path: path, configFile: configFile, memoryLimit: memoryLimit) { layout, readExactly throws(ConfigError) in
            decode(try readExactly(layout.dataBytes), from: 0, layout)
        }
    }

    /// The shape (rows, cols) of `path`, after the checks `read` makes before reading
    /// any data (format, dtype, order, the data's size against the file and memory).
    public static func shape(path: String, configFile: String? = nil, memoryLimit: Double? = nil) throws(ConfigError) -> (rows: Int, cols: Int) {
        try withHeader(path: path, configFile: configFile, memoryLimit: memoryLimit) { layout, _ in
            (layout.rows, layout.cols)
        }
    }

    /// Opens `path`, reads and checks its header, and hands `body` the layout and a
    /// reader of the bytes that follow.
    private static func withHeader<T>(
        path: String, configFile: String?, memoryLimit: Double?,
        _ body: (Layout, (Int) throws(ConfigError) -> [UInt8]) throws(ConfigError) -> T
    ) throws(ConfigError) -> T {
        func fail(_ message: String) -> ConfigError {
            ConfigError(file: configFile, keyPath: keyPath, "\(path): \(message)")
        }
        let f: UnsafeMutablePointer<FILE>
        switch BoundedRead.openRegular(path) {
        case let .success(file): f = file
        case let .failure(.unreadable(reason)): throw fail("cannot read file: \(reason)")
        case .failure: throw fail("cannot read file")
        }
        defer { fclose(f) }
        var info = stat()
        guard fstat(fileno(f), &info) == 0 else { throw fail("cannot read file") }
        func readExactly(_ count: Int) throws(ConfigError) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            let n = count == 0 ? 0 : fread(&out, 1, count, f)
            guard n == count else { throw fail("truncated .npy file") }
            return out
        }
        var head = try readExactly(10)
        if head[6] == 2 || head[6] == 3 { head += try readExactly(2) }  // a 4-byte header length
        let preamble = try headerLength(head, fail: fail)
        head += try readExactly(preamble.start + preamble.length - head.count)
        let layout = try parseHeader(head, fail: fail)
        if (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) - layout.dataStart < layout.dataBytes {
            throw fail("truncated data: shape (\(layout.rows), \(layout.cols)) needs \(layout.dataBytes) bytes, file has \(Int(info.st_size) - layout.dataStart)")
        }
        // Read as bytes, then as floats: twice the data at the peak.
        let limit = memoryLimit.map { MemoryLimit(bytes: $0, source: "limit given") } ?? .current()
        guard 2 * Double(layout.dataBytes) <= limit.bytes else {
            throw fail("shape (\(layout.rows), \(layout.cols)) needs \(memoryText(2 * Double(layout.dataBytes))) to read, "
                        + "more than the \(memoryText(limit.bytes)) available (\(limit.source))")
        }
        return try body(layout, readExactly)
    }

    /// Parses the bytes of a .npy file; `path` only names it in messages.
    public static func parse(
        _ bytes: [UInt8], path: String, configFile: String? = nil
    ) throws(ConfigError) -> NpyArray {
        func fail(_ message: String) -> ConfigError {
            ConfigError(file: configFile, keyPath: keyPath, "\(path): \(message)")
        }
        let layout = try parseHeader(bytes, fail: fail)
        guard bytes.count - layout.dataStart >= layout.dataBytes else {
            throw fail("truncated data: shape (\(layout.rows), \(layout.cols)) needs \(layout.dataBytes) bytes, file has \(bytes.count - layout.dataStart)")
        }
        return decode(bytes, from: layout.dataStart, layout)
    }

    /// Where the header text starts and how long it is, from the first 10 or 12 bytes.
    static func headerLength(_ bytes: [UInt8], fail: (String) -> ConfigError) throws(ConfigError) -> (start: Int, length: Int) {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not a NumPy .npy file (bad magic)")
        }
        let major = bytes[6], minor = bytes[7]
        let result: (start: Int, length: Int)
        switch major {
        case 1:
            result = (10, Int(bytes[8]) | Int(bytes[9]) << 8)
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            result = (12, Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24)
        default:
            throw fail("unsupported .npy format version \(major).\(minor) (expected 1.0, 2.0 or 3.0)")
        }
        guard result.length <= maxHeaderBytes else {
            throw fail("header of \(result.length) bytes; at most \(maxHeaderBytes) are accepted")
        }
        return result
    }

    /// Checks the header in `bytes` (which must hold at least the whole header).
    private static func parseHeader(_ bytes: [UInt8], fail: (String) -> ConfigError) throws(ConfigError) -> Layout {
        let (headerStart, length) = try headerLength(bytes, fail: fail)
        let dataStart = headerStart + length
        guard dataStart <= bytes.count else { throw fail("truncated .npy header") }
        guard let text = String(bytes: bytes[headerStart..<dataStart], encoding: bytes[6] == 3 ? .utf8 : .isoLatin1)
        else { throw fail("unreadable .npy header") }
        guard let header = NpyHeader(parsing: text) else {
            let shown = text.trimmingCharacters(in: .whitespacesAndNewlines)
            throw fail("malformed .npy header: \(shown.count > 200 ? shown.prefix(200) + "…" : shown)")
        }
        guard header.descr == "<f4" else { throw fail("expected float32 ('<f4'), got '\(header.descr)'") }
        guard !header.fortranOrder else { throw fail("expected C order, got fortran_order=True") }
        guard header.shape.count == 2 else {
            throw fail("expected a 2-D array [tokens, experts], got shape \(NpyHeader.shapeText(header.shape))")
        }
        let rows = header.shape[0], cols = header.shape[1]
        let (count, overflow) = rows.multipliedReportingOverflow(by: cols)
        let (bytesNeeded, overflow4) = count.multipliedReportingOverflow(by: 4)
        guard !overflow, !overflow4 else {
            throw fail("shape (\(rows), \(cols)) is more than 2^63 bytes of data")
        }
        return Layout(rows: rows, cols: cols, dataStart: dataStart, dataBytes: bytesNeeded)
    }

    private static func decode(_ bytes: [UInt8], from dataStart: Int, _ layout: Layout) -> NpyArray {
        let count = layout.dataBytes / 4
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { out in
                for i in 0..<count {
                    let bits = raw.loadUnaligned(fromByteOffset: dataStart + 4 * i, as: UInt32.self)
                    out[i] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            }
        }
        return NpyArray(rows: layout.rows, cols: layout.cols, data: values)
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
        var out = header(descr: "<f4", shape: [rows, cols])
        out.reserveCapacity(out.count + 4 * data.count)
        for v in data {
            var bits = v.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// The magic, version (1.0) and header of a C-order .npy file of `descr` (e.g.
    /// `<f4`, `<i4`) and `shape` (any number of dimensions, e.g. [n] for a column),
    /// padded so that the data, which follows in C order, starts at a multiple of 64.
    public static func header(descr: String, shape: [Int]) -> [UInt8] {
        precondition(shape.allSatisfy { $0 >= 0 }, "npy: negative extent in \(shape)")
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(NpyHeader.shapeText(shape)), }"
        // Pad with spaces so the data starts on a 64-byte boundary; the header ends in '\n'.
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let length = dict.utf8.count
        precondition(length <= 0xFFFF)
        return NpyReader.magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(dict.utf8)
    }
}
