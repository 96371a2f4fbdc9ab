#if canImport(Glibc)
import Glibc
/// write(2), named apart from the methods called `write` (used by `Console` and `AtomicFile`).
let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
let systemWrite = Darwin.write
#endif

/// Unbuffered writes to standard error (file descriptor 2), safe from any thread.
public enum Console {
    public static func error(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = systemWrite(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
