import Foundation
import XCTest

/// launch/run and launch/slurm.sbatch as a user runs them: launch/run's command line
/// (EPSIM_LAUNCH_PRINT=1 prints it instead of building and running), and the Slurm
/// script end to end under a stand-in `srun` that starts its ranks with mpirun.
final class LaunchScriptTests: XCTestCase {
    /// The mpirun command launch/run would run, one argument per entry.
    private func launchRun(_ arguments: [String]) throws -> [String] {
        let run = try CLI.run("/bin/bash", ["launch/run"] + arguments, timeout: 30,
                              environment: ["EPSIM_LAUNCH_PRINT": "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.stdout.split(separator: "\n").map(String.init)
    }

    /// What follows `epsim` on the command line.
    private func epsimArguments(_ command: [String]) throws -> [String] {
        let i = try XCTUnwrap(command.firstIndex { $0.hasSuffix("/epsim") }, "\(command)")
        return Array(command[(i + 1)...])
    }

    private func ranks(_ command: [String]) -> String? {
        command.firstIndex(of: "-n").map { command[$0 + 1] }
    }

    func testCompareOfResultFilesAddsNoLayout() throws {
        let command = try launchRun(["compare", "a.json", "b.json"])
        XCTAssertEqual(try epsimArguments(command), ["compare", "a.json", "b.json"])
        XCTAssertEqual(ranks(command), "4")
    }

    func testCompareOfConfigsKeepsThemAndTakesRanksFromTheFirst() throws {
        let command = try launchRun(["compare", "configs/eplb.yaml", "configs/skewed.yaml"])
        XCTAssertEqual(try epsimArguments(command), ["compare", "configs/eplb.yaml", "configs/skewed.yaml"])
        XCTAssertEqual(ranks(command), "4")
        let two = try launchRun(["-n", "2", "compare", "a.json", "configs/skewed.yaml"])
        XCTAssertEqual(try epsimArguments(two), ["compare", "a.json", "configs/skewed.yaml", "--set", "ranks=2"])
        XCTAssertEqual(ranks(two), "2")
    }

    func testRunDefaultsToTheDefaultLayout() throws {
        let command = try launchRun([])
        XCTAssertEqual(try epsimArguments(command), ["run", "--config", "configs/default.yaml"])
        XCTAssertEqual(ranks(command), "4")
        let eight = try launchRun(["-n", "8", "configs/mixtral.yaml", "--sync"])
        XCTAssertEqual(try epsimArguments(eight), ["run", "--config", "configs/mixtral.yaml", "--set", "ranks=8", "--sync"])
        XCTAssertEqual(ranks(eight), "8")
    }

    /// The script as written: 2 nodes × 4 tasks is 8 ranks, run here by a stand-in srun
    /// (srun's options dropped, the rest under mpirun -n $SLURM_NTASKS).
    func testSlurmScriptRunsAsWritten() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = try String(contentsOf: CLI.root.appendingPathComponent("launch/slurm.sbatch"), encoding: .utf8)
        XCTAssertTrue(script.contains("#SBATCH --nodes=2") && script.contains("#SBATCH --ntasks-per-node=4"), script)
        let root = getuid() == 0 ? "--allow-run-as-root " : ""
        let srun = dir.appendingPathComponent("srun")
        try """
            #!/bin/sh
            while [ "${1#--}" != "$1" ]; do shift; done
            exec mpirun \(root)--oversubscribe --bind-to none --mca btl self,vader,tcp -x OPENBLAS_NUM_THREADS=1 -n "$SLURM_NTASKS" "$@"

            """.write(to: srun, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: srun.path)
        let output = dir.appendingPathComponent("r.json")
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let environment = ["PATH": dir.path + ":" + path, "SLURM_NTASKS": "8", "EPSIM": CLI.epsim]
        for config in ["configs/default.yaml", "configs/mixtral.yaml"] {
            let run = try CLI.run("/bin/bash", ["launch/slurm.sbatch", config, "--set", "steps=1", "--set", "warmup_steps=0",
                                                "--set", "tokens=32", "--output", output.path],
                                  timeout: 240, environment: environment)
            XCTAssertEqual(run.status, 0, "\(config): \(run.stderr)")
            let json = try CLI.json(at: output)
            XCTAssertEqual((json["environment"] as? [String: Any])?["ranks"] as? Int, 8, config)
        }
        // A layout that cannot use 8 ranks names the key to change.
        let eplb = try CLI.run("/bin/bash", ["launch/slurm.sbatch", "configs/eplb.yaml"], timeout: 120, environment: environment)
        XCTAssertNotEqual(eplb.status, 0)
        XCTAssertTrue(eplb.epsimErrors.first?.contains("placement.redundant_experts") ?? false, eplb.stderr)
        // Outside Slurm it says what it needs.
        let bare = try CLI.run("/bin/bash", ["launch/slurm.sbatch"], timeout: 30, environment: ["SLURM_NTASKS": ""])
        XCTAssertEqual(bare.status, 2)
        XCTAssertTrue(bare.stderr.contains("SLURM_NTASKS: expected the job's number of tasks"), bare.stderr)
    }
}
