import Foundation
import XCTest

/// Bad input ends every rank with one clear line and a non-zero exit, never a hang.
final class ErrorTests: XCTestCase {
    func testMissingConfigEmulated() throws {
        let run = try CLI.epsim(["run", "--config", "missing.yaml", "--emulate", "2"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.errorLines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.hasPrefix("epsim: error: missing.yaml: cannot read file"), run.stderr)
    }

    func testMalformedYAMLNamesFileAndLine() throws {
        let path = try CLI.file("model:\n  experts: 8\n  top_k: [2\nsteps: 3\n", named: "bad.yaml")
        let run = try CLI.epsim(["run", "--config", path, "--emulate", "2"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.errorLines.count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains(path), run.stderr)
        XCTAssertTrue(run.stderr.contains("line"), run.stderr)
    }

    func testMissingConfigUnderMPIPrintsOnceAndEveryRankExits() throws {
        let run = try CLI.mpirun(4, ["run", "--config", "missing.yaml"], timeout: 60)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.epsimErrors.count, 1, run.stderr)
        XCTAssertTrue(run.epsimErrors.first?.contains("missing.yaml: cannot read file") ?? false, run.stderr)
    }

    func testMalformedYAMLUnderMPI() throws {
        let path = try CLI.file("model: {experts: 8\n", named: "bad.yaml")
        let run = try CLI.mpirun(4, ["run", "--config", path], timeout: 60)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.epsimErrors.count, 1, run.stderr)
        XCTAssertTrue(run.epsimErrors.first?.contains(path) ?? false, run.stderr)
    }

    /// A shipped config that keeps `ranks:` (eplb.yaml: its slots fit 4 ranks) names the
    /// same fix under mpirun as emulated.
    func testRankCountMismatchUnderMPI() throws {
        let message = "epsim: error: configs/eplb.yaml: ranks: config expects 4 ranks, but the run has 2; "
            + "run it with --emulate 4 or mpirun -n 4, or change it with --set ranks=2"
        let run = try CLI.mpirun(2, ["run", "--config", "configs/eplb.yaml"], timeout: 60)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.epsimErrors, [message], run.stderr)
        let emulated = try CLI.epsim(["run", "--config", "configs/eplb.yaml", "--emulate", "2"])
        XCTAssertNotEqual(emulated.status, 0)
        XCTAssertEqual(emulated.epsimErrors, [message], emulated.stderr)
    }

    /// The shipped layouts without a fixed rank count run at a count other than 4.
    func testShippedLayoutsFollowTheWorldSize() throws {
        let run = try CLI.mpirun(2, ["run", "--config", "configs/default.yaml", "--set", "steps=1", "--set", "tokens=64"],
                                 timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("2 ranks"), run.stdout)
    }

    func testBadOverridePinsMessage() throws {
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4",
                                 "--set", "capacity.factr=2"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.errorLines, ["epsim: error: --set capacity.factr=2: capacity.factr: unknown key 'factr' (did you mean 'factor'?)"])
    }

    func testBadEmulateCount() throws {
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "0"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--emulate: expected a number of ranks in 1...4096, got 0"), run.stderr)
    }

    func testHelpListsSubcommands() throws {
        // 80 columns, as ArgumentParser wraps to COLUMNS when it is set.
        let run = try CLI.epsim(["--help"], environment: ["COLUMNS": "80"])
        XCTAssertEqual(run.status, 0)
        XCTAssertEqual(run.stdout, """
            OVERVIEW: Simulate expert-parallel Mixture-of-Experts layers on MPI or emulated
            ranks.

            Launch under MPI with one process per rank (mpirun -n 4 epsim run --config
            FILE, or launch/run), or run N ranks inside one process with --emulate N.

            USAGE: epsim <subcommand>

            OPTIONS:
              --version               Show the version.
              -h, --help              Show help information.

            SUBCOMMANDS:
              run                     Run a layout and report routing, timing and traffic.
              validate                Check a config and print it resolved, with the
                                      placement table.
              compare                 Compare layouts side by side: run each config, or
                                      read result files.
              sweep                   Run a config over the cross product of overrides and
                                      mark the Pareto front.
              bench                   Time each phase of a layout against bare baselines
                                      measured in the same run.
              calibrate               Measure this host and write a system file for it.
              validate-model          Print the target-system model's errors against
                                      measured and published figures.
              estimate                Decide and model a layout at any world size in one
                                      process (no payloads, no expert arithmetic).

              See 'epsim help <subcommand>' for detailed help.

            """)
        let runHelp = try CLI.epsim(["run", "--help"])
        for option in ["--config <file>", "--set <key=value>", "--emulate <N>", "--output <file>", "--routing-out <path>", "--routing-format <format>", "--routing-only",
                       "--system <file>", "--modeled-only"] {
            XCTAssertTrue(runHelp.stdout.contains(option), "missing \(option) in:\n\(runHelp.stdout)")
        }
    }

    func testValidatePrintsPlacementTable() throws {
        let run = try CLI.epsim(["validate", "--config", "configs/default.yaml", "--emulate", "4",
                                 "--set", "placement={kind: contiguous, replicas: [{expert: 0, ranks: [3]}]}"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("placement: 8 experts on 4 ranks, replicated"), run.stdout)
        XCTAssertTrue(run.stdout.contains("rank 0: 0(copy 1/2) 1"), run.stdout)
        XCTAssertTrue(run.stdout.contains("rank 3: 6 7 0(copy 2/2)"), run.stdout)
    }
}
