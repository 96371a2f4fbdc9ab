import Foundation
import XCTest

/// Every run ends, on every rank: layouts that once hung finish under mpirun, a run
/// that stops making progress is ended by the watchdog with one line per rank, and no
/// run leaves a temporary or corrupt file behind.
final class RunEndsTests: XCTestCase {
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
        let lines = run.epsimErrors
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
        let lines = run.epsimErrors
        XCTAssertEqual(lines.count, 3, run.stderr)
        XCTAssertEqual(lines.filter { $0.contains("rank 1: no progress for 2 s at step 2, layer 0, phase route") }.count,
                       1, run.stderr)
        for r in [0, 2] {
            XCTAssertEqual(lines.filter { $0.contains("rank \(r): no progress for 2 s at step 2, layer 0, phase dispatch") }
                .count, 1, run.stderr)
        }
        XCTAssertEqual(try files(in: directory), [], "no result and no temporary file")
    }

    /// The watchdog watches the steps only: rank 0's serial verification (over a
    /// second here in a debug build) while its peers wait for it is not a stall.
    func testWatchdogLetsVerificationAndResultsTakeTheirTime() throws {
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--verify",
                                 "--timeout", "1", "--set", "tokens=96", "--set", "steps=1", "--set", "warmup_steps=0"],
                                timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("): PASS"), run.stdout)
        // Slurm's SLURM_NTASKS is seen by a batch script's own shell: not an mpirun.
        let slurm = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--set", "steps=1"],
                                  environment: ["SLURM_NTASKS": "8"])
        XCTAssertEqual(slurm.status, 0, slurm.stderr)
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
            // The temporary files exist once the run has started (epsim says nothing before
            // it stalls, so the files' creation is the event to wait for).
            let created = try DirectoryWatch(directory)
            try process.run()
            XCTAssertTrue(try created.wait(timeout: 30) { try self.files(in: directory).count >= 2 })
            XCTAssertEqual(try files(in: directory).filter { $0.contains(".tmp.") }.count, 2)
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal)
            XCTAssertEqual(process.terminationStatus, signal)
            XCTAssertEqual(try files(in: directory), [], "signal \(signal) left files behind")
        }
    }
}

/// Error lines stay one line of bounded length, whatever the value echoed back.
final class ErrorLineTests: XCTestCase {
    func testAHugeOrMultiLineValueGivesOneShortLine() throws {
        let long = "steps=[" + String(repeating: "[", count: 50_000)
        for override in [long, "model.hidden=1\n2", "steps=a\rb"] {
            let run = try CLI.epsim(["validate", "--config", "configs/default.yaml", "--set", override])
            XCTAssertNotEqual(run.status, 0)
            XCTAssertEqual(run.errorLines.count, 1, run.stderr.prefix(300) + "")
            XCTAssertTrue(run.stderr.hasPrefix("epsim: error: --set "), String(run.stderr.prefix(300)))
            XCTAssertLessThanOrEqual(run.stderr.count, 1100)
        }
    }

    /// Outputs that would replace the config, or what is not a regular file, are refused
    /// or written through: /dev/null stays a device.
    func testOutputsNeverReplaceTheConfigOrADevice() throws {
        let directory = try CLI.temporaryDirectory()
        let config = directory.appendingPathComponent("my.yaml").path
        try String(contentsOfFile: CLI.root.appendingPathComponent("configs/default.yaml").path, encoding: .utf8)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let before = try String(contentsOfFile: config, encoding: .utf8)
        let run = try CLI.epsim(["run", "--config", config, "--emulate", "4", "--output", config])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.errorLines, ["epsim: error: --output '\(config)' would replace the --config file it reads: "
                                        + "write the output elsewhere (see 'epsim --help')"])
        XCTAssertEqual(try String(contentsOfFile: config, encoding: .utf8), before)

        let fifo = directory.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let small = ["--set", "steps=1", "--set", "warmup_steps=0", "--set", "tokens=16"]
        let noReader = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--output", fifo] + small)
        XCTAssertEqual(noReader.errorLines, ["epsim: error: \(fifo): cannot write: a FIFO with no reader"])
        var info = stat()
        XCTAssertEqual(lstat(fifo, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")

        // /dev/stderr appended to a log is written in place, the log kept.
        let log = directory.appendingPathComponent("run.log")
        try "log line\n".write(to: log, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.epsim)
        process.arguments = ["run", "--config", "configs/default.yaml", "--emulate", "4", "--output", "/dev/stderr"] + small
        process.currentDirectoryURL = CLI.root
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardError = handle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("log line\n{"), String(text.prefix(100)))

        let devnull = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4",
                                     "--output", "/dev/null", "--csv", "/dev/null"] + small)
        XCTAssertEqual(devnull.status, 0, devnull.stderr)
        XCTAssertEqual(stat("/dev/null", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR, "/dev/null is still a device")

        // A link is followed: the target gets the result, the link stays a link.
        let target = directory.appendingPathComponent("target.json").path
        let link = directory.appendingPathComponent("link.json").path
        XCTAssertEqual(symlink(target, link), 0)
        let linked = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--output", link] + small)
        XCTAssertEqual(linked.status, 0, linked.stderr)
        XCTAssertEqual(lstat(link, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFLNK)
        XCTAssertNotNil(try? CLI.json(at: URL(fileURLWithPath: target)))
    }

    /// A temporary file of a run killed with SIGKILL (no handler sees it) is removed by
    /// the next run writing that output; one of a process still running is not.
    func testTemporaryFilesOfDeadRunsAreRemovedByTheNextRun() throws {
        let directory = try CLI.temporaryDirectory()
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let stale = directory.appendingPathComponent("r.json.tmp.\(gone.processIdentifier)").path
        let live = directory.appendingPathComponent("r.json.tmp.\(getpid())").path
        for path in [stale, live] { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8))) }
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--set", "steps=1",
                                 "--output", directory.appendingPathComponent("r.json").path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
                       ["r.json", "r.json.tmp.\(getpid())"])
    }

    /// --emulate inside an mpirun of several processes would run one world per process.
    func testEmulateUnderMPIIsRefusedOnce() throws {
        let run = try CLI.mpirun(2, ["run", "--config", "configs/default.yaml", "--emulate", "4"], timeout: 60)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.epsimErrors,
                       ["epsim: error: --emulate 4: runs the ranks as threads of one process, but mpirun started 2 "
                        + "processes; use either --emulate 4 without mpirun or mpirun without --emulate (see 'epsim --help')"])
    }
}

/// `compare` checks every file it reads and writes before the first layout runs.
final class CompareInputTests: XCTestCase {
    func testABadLastFileIsFoundBeforeAnyRun() throws {
        let directory = try CLI.temporaryDirectory()
        let bad = directory.appendingPathComponent("bad.yaml").path
        try "model: {experts: 0}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let run = try CLI.epsim(["compare", "configs/default.yaml", bad, "--emulate", "4"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.errorLines, ["epsim: error: \(bad): model.experts: expected an integer in [1, 65536], got 0"])
        XCTAssertEqual(run.stdout, "", "nothing ran")
        let svg = try CLI.epsim(["compare", "configs/default.yaml", "configs/skewed.yaml", "--emulate", "4",
                                 "--svg", directory.appendingPathComponent("missing/x.svg").path])
        XCTAssertEqual(svg.status, 1)
        XCTAssertEqual(svg.errorLines.count, 1, svg.stderr)
        XCTAssertTrue(svg.stderr.contains("missing/x.svg: cannot write: No such file or directory"), svg.stderr)
        XCTAssertEqual(svg.stdout, "", "nothing ran")
    }

    /// `sweep` likewise: a bad value of the last point is found before the first runs.
    func testSweepChecksEveryPointFirst() throws {
        let run = try CLI.epsim(["sweep", "--config", "configs/default.yaml", "--emulate", "4",
                                 "--vary", "capacity.factor=1.0,-2"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.errorLines, ["epsim: error: --set capacity.factor=-2: capacity.factor: "
                                        + "expected a number in (0, 1e6] or 'none', got -2"])
        XCTAssertEqual(run.stdout, "", "nothing ran")
    }
}
