import Foundation
import XCTest

/// Runs the built `epsim` binary (and mpirun) as a user would.
enum CLI {
    /// The package root, from this file's location.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The `epsim` executable built next to this test bundle.
    static var epsim: String {
        // The test binary (epsimPackageTests.xctest) sits in the same build folder.
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
                .deletingLastPathComponent().appendingPathComponent("epsim"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("epsim"),
            root.appendingPathComponent(".build/debug/epsim"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path
            ?? candidates.last!.path
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        /// Non-empty stderr lines.
        var errorLines: [String] { stderr.split(separator: "\n").map(String.init) }
        /// epsim's own error lines (mpirun may add its notice after them).
        var epsimErrors: [String] { errorLines.filter { $0.hasPrefix("epsim: error:") } }
    }

    /// Writes `text` to a file `name` in a fresh temporary directory; returns its path.
    static func file(_ text: String, named name: String) throws -> String {
        let url = try temporaryDirectory().appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Runs `executable` with `arguments` from the package root; fails the test if it
    /// does not finish within `timeout` seconds (a hang is a failure, not a wait).
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 120,
                    environment extra: [String: String] = [:],
                    file: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = root
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        environment.merge(extra) { $1 }
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let exited = exitSignal(of: process)
        try process.run()
        // Read both pipes concurrently so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            XCTFail("\(executable) \(arguments.joined(separator: " ")) did not finish in \(timeout) s",
                    file: file, line: line)
        }
        process.waitUntilExit()
        group.wait()
        return Outcome(status: process.terminationStatus,
                       stdout: String(decoding: outData, as: UTF8.self),
                       stderr: String(decoding: errData, as: UTF8.self))
    }

    /// A semaphore signalled when `process` exits (its termination handler, set here
    /// before `run()`), so a caller waits for the exit, with a timeout, without polling.
    static func exitSignal(of process: Process) -> DispatchSemaphore {
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        return exited
    }

    static func epsim(_ arguments: [String], timeout: Double = 120, environment: [String: String] = [:],
                      file: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        try run(epsim, arguments, timeout: timeout, environment: environment, file: file, line: line)
    }

    /// `mpirun -n ranks epsim arguments...` with the flags launch/run uses.
    static func mpirun(_ ranks: Int, _ arguments: [String], timeout: Double = 180,
                       environment: [String: String] = [:],
                       file: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        var flags = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                     "--mca", "btl", "self,vader,tcp", "-x", "OPENBLAS_NUM_THREADS=1"]
        if getuid() != 0 { flags.removeFirst() }
        for name in environment.keys.sorted() { flags += ["-x", name] }
        return try run("/usr/bin/env", ["mpirun"] + flags + ["-n", String(ranks), epsim] + arguments,
                       timeout: timeout, environment: environment, file: file, line: line)
    }

    /// A fresh temporary directory for one test's files.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("epsim-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Parses a JSON file into Foundation objects.
    static func json(at url: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: url)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// Wakes a waiter when something is created in or moved into a directory (inotify), so
/// a test waits for files to appear without polling the file system on a timer.
final class DirectoryWatch {
    private let fd: Int32

    /// Starts watching; create it before whatever creates the files, so none is missed.
    init(_ directory: URL) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0, inotify_add_watch(fd, directory.path, UInt32(IN_CREATE | IN_MOVED_TO)) >= 0 else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: directory.path])
        }
    }

    deinit { close(fd) }

    /// Blocks until `condition` holds, re-checking it after each batch of events, or
    /// until `timeout` seconds have passed; returns whether it holds.
    func wait(timeout: Double, until condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var events = [UInt8](repeating: 0, count: 4096)
        while try !condition() {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return false }
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&waiting, 1, Int32(min(left, 3600) * 1000) + 1) > 0 {
                _ = read(fd, &events, events.count)  // drain the batch; the condition says what changed
            }
        }
        return true
    }
}
