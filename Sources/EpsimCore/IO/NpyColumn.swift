/// A 1-D .npy array of int32 (`<i4`) or float32 (`<f4`): one column of a routing dump
/// written with `--routing-format npy`.
public enum NpyColumn: Sendable, Equatable {
    case int32([Int32])
    case float32([Float])

    /// Number of entries.
    public var count: Int {
        switch self {
        case let .int32(v): return v.count
        case let .float32(v): return v.count
        }
    }

    /// The bytes of a .npy file holding `values` (1-D, little-endian int32).
    public static func encode(_ values: [Int32]) -> [UInt8] {
        var out = NpyWriter.header(descr: "<i4", shape: [values.count])
        for v in values { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// The bytes of a .npy file holding `values` (1-D, little-endian float32).
    public static func encode(_ values: [Float]) -> [UInt8] {
        var out = NpyWriter.header(descr: "<f4", shape: [values.count])
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// Parses the bytes of a 1-D C-order `<i4` or `<f4` .npy file (format 1.0, 2.0 or
    /// 3.0). Throws a `ConfigError` naming `path` for any other file: another dtype or
    /// rank, Fortran order, a malformed or truncated header, too little data.
    public static func parse(_ bytes: [UInt8], path: String) throws(ConfigError) -> NpyColumn {
        func fail(_ message: String) -> ConfigError { ConfigError(file: nil, keyPath: "", "\(path): \(message)") }
        let (start, length) = try NpyReader.headerLength(bytes, fail: fail)
        guard start + length <= bytes.count,
              let text = String(bytes: bytes[start..<(start + length)], encoding: .isoLatin1),
              let header = NpyHeader(parsing: text)
        else { throw fail("malformed or truncated .npy header") }
        guard !header.fortranOrder else { throw fail("expected C order, got fortran_order=True") }
        guard header.shape.count == 1 else {
            throw fail("expected a 1-D column, got shape \(NpyHeader.shapeText(header.shape))")
        }
        let n = header.shape[0], data = start + length
        guard header.descr == "<i4" || header.descr == "<f4" else {
            throw fail("expected int32 ('<i4') or float32 ('<f4'), got '\(header.descr)'")
        }
        guard n <= (bytes.count - data) / 4 else {
            throw fail("truncated data: shape (\(n),) needs \(4 * n) bytes, file has \(bytes.count - data)")
        }
        let words: [UInt32] = bytes.withUnsafeBytes { raw in
            (0..<n).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: data + 4 * $0, as: UInt32.self)) }
        }
        return header.descr == "<i4"
            ? .int32(words.map { Int32(bitPattern: $0) }) : .float32(words.map { Float(bitPattern: $0) })
    }
}
