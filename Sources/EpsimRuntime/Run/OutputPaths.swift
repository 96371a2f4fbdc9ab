#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks on the files a command is asked to write, made before anything runs.
public enum OutputPaths {
    public struct Conflict: Error, CustomStringConvertible {
        public let description: String
    }

    /// Throws when two options name the same file (after resolving links and the
    /// directory, so `r.json` and `./r.json` are one file), since the second writer
    /// would corrupt the first one's output; when an output would replace one of the
    /// command's inputs (its config); or when a path is empty. Devices such as
    /// /dev/null may be named by several outputs: they are written through, not replaced.
    ///
    /// - Parameters:
    ///   - outputs: (option name, path) pairs; nil paths are skipped.
    ///   - inputs: (option name, path) pairs of files the command reads.
    public static func checkDistinct(_ outputs: [(option: String, path: String?)],
                                     inputs: [(option: String, path: String)] = []) throws {
        var read: [String: String] = [:]
        for (option, path) in inputs where !path.isEmpty { read[canonical(path)] = option }
        var seen: [String: String] = [:]
        for (option, path) in outputs {
            guard let path else { continue }
            guard !path.isEmpty else { throw Conflict(description: "\(option): the path is empty") }
            if AtomicFile.namesADescriptor(path) { continue }
            let key = canonical(path)
            if isDevice(key) { continue }
            if let input = read[key] {
                throw Conflict(description: "\(option) '\(path)' would replace the \(input) file it reads: write the output elsewhere")
            }
            if let other = seen[key] {
                throw Conflict(description: "\(other) and \(option) both write '\(path)': give each output its own file")
            }
            seen[key] = option
        }
    }

    /// Whether `path` is a character or block device (written through, never replaced).
    static func isDevice(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let kind = info.st_mode & S_IFMT
        return kind == S_IFCHR || kind == S_IFBLK
    }

    /// The path resolved by realpath(3), or, when the file does not exist yet, its
    /// directory resolved and its name appended.
    static func canonical(_ given: String) -> String {
        let path = AtomicFile.followingLinks(given)
        if let resolved = realpath(path, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let resolved = realpath(directory.isEmpty ? "/" : directory, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + name
    }
}
