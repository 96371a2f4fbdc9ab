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
        try process.run()
        // Read both pipes concurrently so a chatty child cannot block on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
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
