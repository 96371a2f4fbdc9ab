#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file in bounded chunks, stopping as soon as it holds more than a
/// limit: `/dev/zero`, a FIFO fed forever or a huge file cost at most `limit` bytes and
/// one line of error, never all the memory there is.
public enum BoundedRead {
    public enum Failure: Error, Equatable {
        /// open or read failed; the C library's message.
        case unreadable(String)
        /// The file holds more than `limit` bytes.
        case tooLarge(limit: Int)
    }

    /// The bytes of `path`, at most `limit` of them.
    public static func bytes(_ path: String, limit: Int) -> Result<[UInt8], Failure> {
        guard let f = fopen(path, "rb") else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n > 0 {
                guard bytes.count + n <= limit else { return .failure(.tooLarge(limit: limit)) }
                bytes.append(contentsOf: chunk[0..<n])
            }
            if n < chunk.count {
                if ferror(f) != 0 { return .failure(.unreadable(String(cString: strerror(errno)))) }
                return .success(bytes)
            }
        }
    }

    /// The text of `path` (UTF-8), at most `limit` bytes of it.
    public static func text(_ path: String, limit: Int) -> Result<String, Failure> {
        bytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// `1 << 24` as "16 MiB".
func mebibytes(_ bytes: Int) -> String {
    bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
}
