import Foundation
import XCTest

/// Every run ends, on every rank: layouts that once hung finish under mpirun, a run
/// that stops making progress is ended by the watchdog with one line per rank, and no
/// run leaves a temporary or corrupt file behind.
final class RunEndsTests: XCTestCase {
    private func epsimErrors(_ outcome: CLI.Outcome) -> [String] {
        outcome.errorLines.filter { $0.hasPrefix("epsim: error:") }
    }

    /// Files left in `directory` (temporary files included).
    private func files(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    /// The smallest hang: at step 2 one rank saw regular counts and called
    /// MPI_Alltoall while the others called MPI_Alltoallv.
    func testRerouteOnSkewedLayoutFinishesUnderMPI() throws {
        let run = try CLI.mpirun(4, ["run", "--config", "configs/skewed.yaml", "--set", "overflow.policy=reroute",
                                     "--set", "warmup_steps=0", "--set", "steps=3", "--timeout", "60"],
                                 timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("on every rank: yes"), run.stdout)
    }

    /// The README's sweep (drop and reroute) under mpirun.
    func testReadmeSweepFinishesUnderMPI() throws {
        let directory = try CLI.temporaryDirectory()
        let csv = directory.appendingPathComponent("sweep.csv").path
        let run = try CLI.mpirun(4, ["sweep", "--config", "configs/skewed.yaml", "--set", "steps=2",
                                     "--vary", "capacity.factor=1.0,1.25,2.0", "--vary", "overflow.policy=drop,reroute",
                                     "--csv", csv, "--timeout", "60"], timeout: 240)
        XCTAssertEqual(run.status, 0, run.stderr)
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 1 + 6, "a header and one row per point")
    }

    /// A rank stuck in route at step 1: the watchdog prints where each rank is (the
    /// stuck one in route, its peers waiting in dispatch) and ends the run with 124.
    func testWatchdogEndsAStalledEmulatedRun() throws {
        let directory = try CLI.temporaryDirectory()
        let output = directory.appendingPathComponent("r.json").path
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "3", "--set", "ranks=3",
                                 "--timeout", "1", "--output", output],
                                timeout: 60, environment: ["EPSIM_FAULT_STALL": "0:1"])
        XCTAssertEqual(run.status, 124, run.stderr)
        let lines = epsimErrors(run)
        XCTAssertEqual(lines.count, 3, run.stderr)
        XCTAssertEqual(run.errorLines.count, 3, run.stderr)
        XCTAssertTrue(lines[0].hasPrefix("epsim: error: rank 0: no progress for 1 s at step 1, layer 0, phase route;"),
                      lines[0])
        for r in 1..<3 {
            XCTAssertTrue(lines[r].hasPrefix("epsim: error: rank \(r): no progress for 1 s at step 1, layer 0, phase dispatch;"),
                          lines[r])
        }
        XCTAssertEqual(try files(in: directory), [], "no result and no temporary file")
    }

    func testWatchdogEndsAStalledMPIRunOnEveryRank() throws {
        let directory = try CLI.temporaryDirectory()
        let output = directory.appendingPathComponent("r.json").path
        let run = try CLI.mpirun(3, ["run", "--config", "configs/default.yaml", "--set", "ranks=3",
                                     "--timeout", "2", "--output", output],
                                 timeout: 90, environment: ["EPSIM_FAULT_STALL": "1:2"])
        XCTAssertNotEqual(run.status, 0, run.stderr)
        let lines = epsimErrors(run)
        XCTAssertEqual(lines.count, 3, run.stderr)
        XCTAssertEqual(lines.filter { $0.contains("rank 1: no progress for 2 s at step 2, layer 0, phase route") }.count,
                       1, run.stderr)
        for r in [0, 2] {
            XCTAssertEqual(lines.filter { $0.contains("rank \(r): no progress for 2 s at step 2, layer 0, phase dispatch") }
                .count, 1, run.stderr)
        }
        XCTAssertEqual(try files(in: directory), [], "no result and no temporary file")
    }

    func testTimeoutOutsideItsRangeIsOneLine() throws {
        for value in ["-1", "1e9", "nan"] {
            let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--timeout=\(value)"])
            XCTAssertNotEqual(run.status, 0)
            XCTAssertEqual(run.errorLines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.hasPrefix("epsim: error: --timeout: expected seconds in 0...604800, got"), run.stderr)
        }
    }

    /// Two outputs on one file would interleave into a corrupt file: refused before the
    /// run, as are an empty path and a directory.
    func testOutputsThatCannotBeWrittenAreRefusedBeforeTheRun() throws {
        let directory = try CLI.temporaryDirectory()
        let same = directory.appendingPathComponent("r.json").path
        let cases: [([String], String)] = [
            (["--output", same, "--csv", directory.path + "/./r.json"], "epsim: error: --output and --csv both write"),
            (["--routing-out", same, "--trace", same], "epsim: error: --routing-out and --trace both write"),
            (["--output", ""], "epsim: error: --output: the path is empty"),
            (["--output", directory.path], "epsim: error: \(directory.path): cannot write: it is a directory"),
        ]
        for (flags, message) in cases {
            let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4"] + flags)
            XCTAssertNotEqual(run.status, 0, flags.joined(separator: " "))
            XCTAssertEqual(run.errorLines.count, 1, run.stderr)
            XCTAssertTrue(run.stderr.hasPrefix(message), run.stderr)
            XCTAssertFalse(run.stdout.contains("phase"), "refused before the run: \(run.stdout)")
        }
        XCTAssertEqual(try files(in: directory), [])
    }

    /// SIGTERM (and SIGINT) during a run: the temporary files go with the process.
    func testSignalRemovesTemporaryFiles() throws {
        for signal in [SIGTERM, SIGINT] {
            let directory = try CLI.temporaryDirectory()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CLI.epsim)
            process.arguments = ["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2",
                                 "--timeout", "0", "--output", directory.appendingPathComponent("r.json").path,
                                 "--routing-out", directory.appendingPathComponent("d.jsonl").path]
            process.currentDirectoryURL = CLI.root
            var environment = ProcessInfo.processInfo.environment
            environment["EPSIM_FAULT_STALL"] = "0:0"
            process.environment = environment
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The temporary files exist once the run has started.
            let deadline = Date().addingTimeInterval(30)
            while try files(in: directory).count < 2 && Date() < deadline { usleep(20_000) }
            XCTAssertEqual(try files(in: directory).filter { $0.contains(".tmp.") }.count, 2)
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal)
            XCTAssertEqual(process.terminationStatus, signal)
            XCTAssertEqual(try files(in: directory), [], "signal \(signal) left files behind")
        }
    }
}
