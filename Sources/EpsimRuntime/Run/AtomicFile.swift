#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
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
        try Writer(path: path).commit(text)
    }

    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) throws {
        let writer = try Writer(path: path)
        try writer.append(bytes)
        try writer.commit()
    }

    /// An open temporary file that becomes `path` on `commit()`; appended to in pieces
    /// (e.g. a routing dump written step by step). Dropped without commit, it is removed.
    ///
    /// A path that names something other than a regular file is written through, never
    /// replaced: a symbolic link is followed (its target is written atomically), and a
    /// device, FIFO or socket (`/dev/null`, `>(wc -c)`) is written directly, in place.
    public final class Writer {
        public let path: String
        /// The file renamed into place on commit; nil when writing through in place.
        private let destination: String?
        private let temporary: String
        private var fd: Int32
        /// The temporary file's slot in `TemporaryFiles` (removed on a signal).
        private var slot: Int?

        /// Opens the temporary file beside `path` (or, for a device or FIFO, `path`
        /// itself). Throws for an empty path, a directory, a FIFO nobody reads, and
        /// anything open(2) refuses, so a bad path fails before a run.
        public init(path: String) throws {
            self.path = path
            guard !path.isEmpty else { throw WriteError(path: "''", reason: "the path is empty") }
            // Follow symbolic links, so the link stays and its target is written.
            let target = AtomicFile.followingLinks(path)
            var info = stat()
            // stat(2) on the path as given: the kernel resolves /dev/stdout and /dev/fd/N
            // to what the descriptor really is (a pipe, a terminal, an appended log).
            let exists = stat(path, &info) == 0
            let kind = info.st_mode & S_IFMT
            if exists && kind == S_IFDIR { throw WriteError(path: path, reason: "it is a directory") }
            if exists && (kind != S_IFREG || AtomicFile.namesADescriptor(path)) {
                // A device, FIFO or socket: write in place. O_NONBLOCK so that a FIFO with
                // no reader fails (ENXIO) instead of waiting for ever; cleared after.
                // An open descriptor (`2>>run.log` as /dev/stderr) is appended to, never
                // truncated or replaced.
                destination = nil
                temporary = path
                fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC)
                guard fd >= 0 else {
                    throw WriteError(path: path, reason: errno == ENXIO && kind == S_IFIFO
                                     ? "a FIFO with no reader" : AtomicFile.errnoText())
                }
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
                return
            }
            destination = target
            temporary = target + ".tmp.\(getpid())"
            AtomicFile.removeStaleTemporaries(of: target)
            // Registered before open(2) creates it, so a signal in between cannot leave it.
            slot = TemporaryFiles.register(temporary)
            fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                let reason = AtomicFile.errnoText()
                TemporaryFiles.unregister(slot)
                throw WriteError(path: path, reason: reason)
            }
        }

        /// Whether the path is a device, FIFO or socket written in place (not a regular
        /// file replaced on commit).
        public var writesInPlace: Bool { destination == nil }

        public func append(_ text: String) throws {
            var bytes = Array(text.utf8)
            try bytes.withUnsafeMutableBytes { try append(UnsafeRawBufferPointer($0)) }
        }

        public func append(_ bytes: UnsafeRawBufferPointer) throws {
            if let code = writeAll(fd, bytes) {
                throw WriteError(path: path, reason: String(cString: strerror(code)))
            }
        }

        /// Appends `text` (UTF-8), then commits: the whole file in one call.
        public func commit(_ text: String) throws {
            try append(text)
            try commit()
        }

        public func commit() throws {
            guard fd >= 0 else { return }
            let closed = close(fd)
            fd = -1
            guard let destination else {
                guard closed == 0 else { throw WriteError(path: path, reason: AtomicFile.errnoText()) }
                return
            }
            defer {
                TemporaryFiles.unregister(slot)
                slot = nil
            }
            guard closed == 0, rename(temporary, destination) == 0 else {
                let reason = AtomicFile.errnoText()
                unlink(temporary)
                throw WriteError(path: path, reason: reason)
            }
        }

        deinit {
            if fd >= 0 {
                close(fd)
                if destination != nil { unlink(temporary) }
                TemporaryFiles.unregister(slot)
            }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    /// Removes `path.tmp.PID` files whose process no longer runs on this host: what a
    /// run killed with SIGKILL (which no handler sees) left behind.
    static func removeStaleTemporaries(of path: String) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? "./"
        let prefix = (slash.map { String(path[path.index(after: $0)...]) } ?? path) + ".tmp."
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix(prefix), let pid = Int32(name.dropFirst(prefix.count)), pid > 0,
                  pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            unlink(directory + name)
        }
    }

    /// Whether `path` names an open file descriptor (/dev/stdout, /dev/stderr,
    /// /dev/fd/N, /proc/self/fd/N, /proc/PID/fd/N), directly or through links: such a
    /// path is written in place, never replaced by a rename.
    static func namesADescriptor(_ path: String) -> Bool {
        linkChain(path).contains { p in
            if ["/dev/stdout", "/dev/stderr", "/dev/stdin"].contains(p) || p.hasPrefix("/dev/fd/") { return true }
            let parts = p.split(separator: "/")
            return parts.count >= 4 && parts[0] == "proc" && parts[2] == "fd"
        }
    }

    /// `path` with symbolic links followed: realpath(3) when the target exists, else the
    /// target a (dangling) link names.
    static func followingLinks(_ path: String) -> String {
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        return linkChain(path).last!
    }

    /// `path`, then each path its symbolic links name in turn (relative ones against
    /// the link's directory), up to the kernel's limit of 40 nested links.
    static func linkChain(_ path: String) -> [String] {
        var chain = [path]
        for _ in 0..<40 {
            let current = chain.last!
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, buffer.count - 1)
            guard n > 0 else { break }
            let link = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let directory = current.lastIndex(of: "/").map { String(current[...$0]) } ?? ""
            chain.append(link.hasPrefix("/") ? link : directory + link)
        }
        return chain
    }
}
