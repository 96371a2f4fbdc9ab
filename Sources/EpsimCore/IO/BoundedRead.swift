#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole regular file in bounded chunks, stopping as soon as it holds more than
/// a limit: a huge file costs at most `limit` bytes and one line of error, never all the
/// memory there is; `/dev/zero` or a FIFO is refused before any read.
public enum BoundedRead {
    public enum Failure: Error, Equatable {
        /// open or read failed; the C library's message.
        case unreadable(String)
        /// The file holds more than `limit` bytes.
        case tooLarge(limit: Int)
    }

    /// Opens `path` for reading as a stdio stream if it is a regular file. A FIFO, a
    /// device (`/dev/zero`), a socket or a directory is refused without blocking (the
    /// open is non-blocking, so a FIFO nobody writes cannot hang the run).
    public static func openRegular(_ path: String) -> Result<UnsafeMutablePointer<FILE>, Failure> {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            return .failure(.unreadable(reason))
        }
        let kind: String?
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = nil
        case S_IFDIR: kind = "a directory"
        case S_IFIFO: kind = "a FIFO or pipe"
        case S_IFCHR, S_IFBLK: kind = "a device"
        default: kind = "not a file"
        }
        if let kind {
            close(fd)
            return .failure(.unreadable("\(kind), not a regular file"))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        guard let f = fdopen(fd, "rb") else {
            close(fd)
            return .failure(.unreadable(String(cString: strerror(errno))))
        }
        return .success(f)
    }

    /// The bytes of `path`, a regular file, at most `limit` of them.
    public static func bytes(_ path: String, limit: Int) -> Result<[UInt8], Failure> {
        let f: UnsafeMutablePointer<FILE>
        switch openRegular(path) {
        case let .success(file): f = file
        case let .failure(failure): return .failure(failure)
        }
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

    /// The text of `path`, or nil if it cannot be read or holds more than `limit` bytes
    /// (for small files whose absence is an answer: /proc entries, result files).
    public static func textIfReadable(_ path: String, limit: Int = 256 << 20) -> String? {
        try? text(path, limit: limit).get()
    }
}

/// `1 << 24` as "16 MiB".
func mebibytes(_ bytes: Int) -> String {
    bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
}
