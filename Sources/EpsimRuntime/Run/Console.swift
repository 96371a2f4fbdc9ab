#if canImport(Glibc)
import Glibc
/// write(2), named apart from the methods called `write`.
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

/// Writes all of `bytes` to `fd` with write(2), again after a partial write or an
/// interrupted one (EINTR). Returns nil once everything is written, else the errno of
/// the write that failed (EIO for a write that wrote nothing). Used by `Console` and
/// `AtomicFile`.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    var offset = 0
    while offset < bytes.count {
        let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            if errno == EINTR { continue }
            return errno
        }
        if n == 0 { return EIO }
        offset += n
    }
    return nil
}

/// Unbuffered writes to standard error (file descriptor 2), safe from any thread.
public enum Console {
    public static func error(_ text: String) {
        var bytes = Array(text.utf8)
        // Nothing is left to report a failure to.
        _ = bytes.withUnsafeMutableBytes { writeAll(2, UnsafeRawBufferPointer($0)) }
    }
}
