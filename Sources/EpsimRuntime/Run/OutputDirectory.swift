#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory that receives output files (`--routing-out DIR --routing-format npy`).
enum OutputDirectory {
    /// Creates `path` (one level; its parent must exist) unless it is already a directory.
    ///
    /// - Throws: `AtomicFile.WriteError` naming `path` when it exists and is not a
    ///   directory, or mkdir(2) refuses (e.g. the parent is missing or read-only).
    static func create(_ path: String) throws {
        guard !path.isEmpty else { throw AtomicFile.WriteError(path: "''", reason: "the path is empty") }
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw AtomicFile.WriteError(path: path, reason: "it exists and is not a directory (--routing-format npy writes a directory of .npy files)")
            }
            return
        }
        guard mkdir(path, 0o755) == 0 else {
            throw AtomicFile.WriteError(path: path, reason: "cannot create the directory: \(AtomicFile.errnoText())")
        }
    }
}
