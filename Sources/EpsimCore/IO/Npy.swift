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

/// The element types a trace file may hold, and how each becomes a Float or an index.
public enum NpyElement: String, Sendable, Equatable {
    /// '<f4'.
    case float32
    /// '<f2' (IEEE binary16): converted exactly.
    case float16
    /// bfloat16 bits saved as '<u2', '<i2' or ml_dtypes' 2-byte void ('|V2', '<V2'),
    /// read so only when asked (`workload.dtype: bf16`): converted exactly (bits << 16).
    case bfloat16
    /// '<i4', '<i8': expert indices of a top-k trace.
    case int32, int64

    /// Bytes per element.
    public var width: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .int64: return 8
        }
    }

    public var isFloat: Bool { self == .float32 || self == .float16 || self == .bfloat16 }

    /// The descrs read as bfloat16 bits with `workload.dtype: bf16`.
    static let rawTwoByte: Set<String> = ["<u2", "<i2", "|V2", "<V2"]

    /// The element of `descr`; `bf16`: 2-byte raw descrs are bfloat16 bits. nil: not a
    /// type a trace may hold.
    static func of(descr: String, bf16: Bool) -> NpyElement? {
        switch descr {
        case "<f4": return .float32
        case "<f2": return .float16
        case "<i4": return .int32
        case "<i8": return .int64
        default: return bf16 && rawTwoByte.contains(descr) ? .bfloat16 : nil
        }
    }

    /// Float32 of the IEEE binary16 `bits`: exact (every half is a float).
    @inline(__always)
    static func float(half bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16, exponent = Int(bits >> 10) & 0x1F, mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:  // zero or subnormal: mantissa · 2^-24, exact in float32
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        case 31:  // infinity or NaN
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
        }
    }
}

/// An N-D .npy array as read: its shape, element type and raw little-endian data,
/// decoded on demand (so a reader keeps only the rows it needs as Floats).
public struct NpyRaw: Sendable {
    /// The shape the header gives, e.g. [steps, layers, tokens, E].
    public let shape: [Int]
    public let element: NpyElement
    /// shape.product × element.width bytes, C order.
    let bytes: [UInt8]

    /// Elements in all.
    public var count: Int { shape.reduce(1, *) }

    /// Elements [start, start + n) as Floats (float elements only).
    public func floats(from start: Int, count n: Int) -> [Float] {
        precondition(element.isFloat && start >= 0 && start + n <= count)
        var out = [Float](repeating: 0, count: n)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { out in
                switch element {
                case .float32:
                    for i in 0..<n {
                        out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * (start + i), as: UInt32.self)))
                    }
                case .float16:
                    for i in 0..<n {
                        out[i] = NpyElement.float(half: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * (start + i), as: UInt16.self)))
                    }
                case .bfloat16:
                    for i in 0..<n {
                        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * (start + i), as: UInt16.self))
                        out[i] = Float(bitPattern: UInt32(bits) << 16)
                    }
                case .int32, .int64:
                    preconditionFailure("not a float array")
                }
            }
        }
        return out
    }

    /// Elements [start, start + n) as integers (index elements only).
    public func integers(from start: Int, count n: Int) -> [Int64] {
        precondition(!element.isFloat && start >= 0 && start + n <= count)
        var out = [Int64](repeating: 0, count: n)
        bytes.withUnsafeBytes { raw in
            for i in 0..<n {
                out[i] = element == .int32
                    ? Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * (start + i), as: Int32.self)))
                    : Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * (start + i), as: Int64.self))
            }
        }
        return out
    }
}

/// Reads NumPy .npy files: format versions 1.0, 2.0 and 3.0; little-endian; C order.
/// `read` and `shape` take 2-D float32 ('<f4') only; `header` and `readRaw` take any
/// number of dimensions of the `NpyElement` types (router traces, docs/traces.md).
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

    /// What the header says: the shape, the type, and where the data starts.
    struct Layout {
        var shape: [Int]
        var descr: String
        var dataStart: Int
        /// shape.product × the element's width, checked for overflow.
        var dataBytes: Int
        var rows: Int { shape[0] }
        var cols: Int { shape[1] }
    }

    /// What a header check wants: 2-D float32 only (`read`, `shape`), or any shape of
    /// the trace element types.
    enum Accept { case matrixFloat32, trace(bf16: Bool) }

    /// Reads `path` (2-D float32). `configFile` is the config that named it (for the
    /// message), if any. `memoryLimit` bounds the bytes reading may take (the data
    /// twice: as bytes, then as floats); nil: what the system has now (`MemoryLimit.current()`).
    public static func read(path: String, configFile: String? = nil, memoryLimit: Double? = nil) throws(ConfigError) -> NpyArray {
        try withHeader(path: path, configFile: configFile, memoryLimit: memoryLimit, accept: .matrixFloat32) { layout, readExactly throws(ConfigError) in
            decode(try readExactly(layout.dataBytes), from: 0, layout)
        }
    }

    /// The shape and element type of a trace file, after the checks `readRaw` makes
    /// before reading data. `bf16`: 2-byte raw types are bfloat16 bits (`NpyElement`).
    /// Errors: any other type ("expected float32 ('<f4'), float16 ('<f2'), ..."), a
    /// big-endian or Fortran-order array, a 0-D array, data the file or memory lacks.
    public static func header(path: String, bf16: Bool = false, configFile: String? = nil,
                              memoryLimit: Double? = nil) throws(ConfigError) -> (shape: [Int], element: NpyElement) {
        try withHeader(path: path, configFile: configFile, memoryLimit: memoryLimit, accept: .trace(bf16: bf16)) { layout, _ in
            (layout.shape, NpyElement.of(descr: layout.descr, bf16: bf16)!)
        }
    }

    /// Reads a trace file of any shape (`header`'s checks first), keeping the raw data.
    /// The memory check counts the raw bytes and `decodedWidth` bytes per element for
    /// what the caller decodes from them.
    public static func readRaw(path: String, bf16: Bool = false, configFile: String? = nil,
                               memoryLimit: Double? = nil, decodedWidth: Int = 4) throws(ConfigError) -> NpyRaw {
        try withHeader(path: path, configFile: configFile, memoryLimit: memoryLimit, accept: .trace(bf16: bf16),
                       decodedWidth: decodedWidth) { layout, readExactly throws(ConfigError) in
            NpyRaw(shape: layout.shape, element: NpyElement.of(descr: layout.descr, bf16: bf16)!,
                   bytes: try readExactly(layout.dataBytes))
        }
    }

    /// Opens `path`, reads and checks its header, and hands `body` the layout and a
    /// reader of the bytes that follow.
    private static func withHeader<T>(
        path: String, configFile: String?, memoryLimit: Double?, accept: Accept, decodedWidth: Int = 4,
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
        let layout = try parseHeader(head, accept: accept, fail: fail)
        let shape = NpyHeader.shapeText(layout.shape)
        if (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) - layout.dataStart < layout.dataBytes {
            throw fail("truncated data: shape \(shape) needs \(layout.dataBytes) bytes, file has \(Int(info.st_size) - layout.dataStart)")
        }
        // Read as bytes, then decoded: the data and its decoded copy at the peak.
        let elements = layout.shape.reduce(1, *)
        let peak = Double(layout.dataBytes) + Double(elements) * Double(decodedWidth)
        let limit = memoryLimit.map { MemoryLimit(bytes: $0, source: "limit given") } ?? .current()
        guard peak <= limit.bytes else {
            throw fail("shape \(shape) needs \(memoryText(peak)) to read, "
                        + "more than the \(memoryText(limit.bytes)) available (\(limit.source))")
        }
        return try body(layout, readExactly)
    }

    /// Parses the bytes of a 2-D float32 .npy file; `path` only names it in messages.
    public static func parse(
        _ bytes: [UInt8], path: String, configFile: String? = nil
    ) throws(ConfigError) -> NpyArray {
        func fail(_ message: String) -> ConfigError {
            ConfigError(file: configFile, keyPath: keyPath, "\(path): \(message)")
        }
        let layout = try parseHeader(bytes, accept: .matrixFloat32, fail: fail)
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
    private static func parseHeader(_ bytes: [UInt8], accept: Accept, fail: (String) -> ConfigError) throws(ConfigError) -> Layout {
        let (headerStart, length) = try headerLength(bytes, fail: fail)
        let dataStart = headerStart + length
        guard dataStart <= bytes.count else { throw fail("truncated .npy header") }
        guard let text = String(bytes: bytes[headerStart..<dataStart], encoding: bytes[6] == 3 ? .utf8 : .isoLatin1)
        else { throw fail("unreadable .npy header") }
        guard let header = NpyHeader(parsing: text) else {
            let shown = text.trimmingCharacters(in: .whitespacesAndNewlines)
            throw fail("malformed .npy header: \(shown.count > 200 ? shown.prefix(200) + "…" : shown)")
        }
        let width: Int
        switch accept {
        case .matrixFloat32:
            guard header.descr == "<f4" else { throw fail("expected float32 ('<f4'), got '\(header.descr)'") }
            width = 4
        case let .trace(bf16):
            guard let element = NpyElement.of(descr: header.descr, bf16: bf16) else {
                let hint = NpyElement.rawTwoByte.contains(header.descr)
                    ? " (bfloat16 saved as raw 2-byte values? set workload.dtype: bf16)" : ""
                throw fail("expected float32 ('<f4'), float16 ('<f2'), bfloat16 bits (with workload.dtype: bf16), "
                           + "int32 ('<i4') or int64 ('<i8'), got '\(header.descr)'\(hint)")
            }
            width = element.width
        }
        guard !header.fortranOrder else { throw fail("expected C order, got fortran_order=True") }
        switch accept {
        case .matrixFloat32:
            guard header.shape.count == 2 else {
                throw fail("expected a 2-D array [tokens, experts], got shape \(NpyHeader.shapeText(header.shape))")
            }
        case .trace:
            guard header.shape.count >= 1 else { throw fail("expected an array, got a 0-D scalar") }
        }
        var count = 1
        for extent in header.shape {
            let (next, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw fail("shape \(NpyHeader.shapeText(header.shape)) is more than 2^63 bytes of data") }
            count = next
        }
        let (bytesNeeded, overflowBytes) = count.multipliedReportingOverflow(by: width)
        guard !overflowBytes else {
            throw fail("shape \(NpyHeader.shapeText(header.shape)) is more than 2^63 bytes of data")
        }
        return Layout(shape: header.shape, descr: header.descr, dataStart: dataStart, dataBytes: bytesNeeded)
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
