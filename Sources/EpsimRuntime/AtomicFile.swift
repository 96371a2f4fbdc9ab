#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Writes whole files atomically: the bytes go to a temporary file in the same
/// directory, which is then renamed over the destination, so a reader (or a crash)
/// never sees a half-written result.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): cannot write: \(reason)" }
    }

    public static func write(_ text: String, to path: String) throws {
        var bytes = Array(text.utf8)
        try bytes.withUnsafeMutableBytes { try write(UnsafeRawBufferPointer($0), to: path) }
    }

    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let writer = try Writer(path: path)
        try writer.append(bytes)
        try writer.commit()
    }

    /// An open temporary file that becomes `path` on `commit()`; appended to in pieces
    /// (e.g. a routing dump written step by step). Dropped without commit, it is removed.
    public final class Writer {
        public let path: String
        private let temporary: String
        private var fd: Int32
        /// The temporary file's slot in `TemporaryFiles` (removed on a signal).
        private var slot: Int?

        /// Opens the temporary file beside `path`. Throws for an empty path, a path that
        /// is a directory, and anything open(2) refuses, so a bad path fails before a run.
        public init(path: String) throws {
            self.path = path
            self.temporary = path + ".tmp.\(getpid())"
            guard !path.isEmpty else { throw WriteError(path: "''", reason: "the path is empty") }
            var info = stat()
            if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                throw WriteError(path: path, reason: "it is a directory")
            }
            fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw WriteError(path: path, reason: AtomicFile.errnoText()) }
            slot = TemporaryFiles.register(temporary)
        }

        public func append(_ text: String) throws {
            var bytes = Array(text.utf8)
            try bytes.withUnsafeMutableBytes { try append(UnsafeRawBufferPointer($0)) }
        }

        public func append(_ bytes: UnsafeRawBufferPointer) throws {
            var offset = 0
            while offset < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WriteError(path: path, reason: AtomicFile.errnoText())
                }
                offset += n
            }
        }

        public func commit() throws {
            guard fd >= 0 else { return }
            let closed = close(fd)
            fd = -1
            defer {
                TemporaryFiles.unregister(slot)
                slot = nil
            }
            guard closed == 0, rename(temporary, path) == 0 else {
                let reason = AtomicFile.errnoText()
                unlink(temporary)
                throw WriteError(path: path, reason: reason)
            }
        }

        deinit {
            if fd >= 0 {
                close(fd)
                unlink(temporary)
                TemporaryFiles.unregister(slot)
            }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
