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

    /// Throws when two options name the same file (after resolving the directory, so
    /// `r.json` and `./r.json` are one file), since the second writer would corrupt the
    /// first one's output, or when a path is empty.
    ///
    /// - Parameter outputs: (option name, path) pairs; nil paths are skipped.
    public static func checkDistinct(_ outputs: [(option: String, path: String?)]) throws {
        var seen: [String: String] = [:]
        for (option, path) in outputs {
            guard let path else { continue }
            guard !path.isEmpty else { throw Conflict(description: "\(option): the path is empty") }
            let key = canonical(path)
            if let other = seen[key] {
                throw Conflict(description: "\(other) and \(option) both write '\(path)': give each output its own file")
            }
            seen[key] = option
        }
    }

    /// The path with its directory resolved by realpath(3) (the file itself need not exist).
    static func canonical(_ path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard let resolved = realpath(directory.isEmpty ? "/" : directory, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved) + "/" + name
    }
}
