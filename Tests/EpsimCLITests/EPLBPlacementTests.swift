import XCTest
import Foundation

/// `placement.kind: eplb` through the binary: configs/eplb.yaml's table, a run whose rank
/// load EPLB balanced, and a bad value stopping every MPI rank with one line.
final class EPLBPlacementTests: XCTestCase {
    func testValidatePrintsTheComputedPlacement() throws {
        let run = try CLI.epsim(["validate", "--config", "configs/eplb.yaml", "--emulate", "4"])
        XCTAssertEqual(run.status, 0, run.stderr)
        // EPLB on skewed-load.json: experts 0-3 get a second slot, and the 12 slots are
        // packed 3 per rank (this is what the port computes; EPLBTests checks it against eplb.py).
        XCTAssertTrue(run.stdout.contains("  rank 0: 4 5 7\n"), run.stdout)
        XCTAssertTrue(run.stdout.contains("  rank 1: 0(copy 1/2) 1(copy 1/2) 3(copy 1/2)\n"), run.stdout)
        XCTAssertTrue(run.stdout.contains("eplb: hierarchical policy, 12 slots (3 per rank, 4 redundant)"), run.stdout)
        XCTAssertTrue(run.stdout.contains("replicas: 0×2 1×2 2×2 3×2"), run.stdout)
        XCTAssertTrue(run.stdout.contains("rank load max/mean: 1.011 (contiguous, no replicas: 1.448)"), run.stdout)
    }

    /// The measured rank imbalance follows EPLB's expectation (skewed.yaml's is 1.45).
    func testRunBalancesRankLoad() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("r.json")
        let run = try CLI.epsim(["run", "--config", "configs/eplb.yaml", "--emulate", "4", "--set", "steps=2",
                                 "--set", "warmup_steps=0", "--output", out.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let routing = try XCTUnwrap(try CLI.json(at: out)["routing"] as? [String: Any])
        let imbalance = try XCTUnwrap(routing["rank_imbalance"] as? Double)
        XCTAssertLessThan(imbalance, 1.05)
    }

    func testBadRedundancyStopsEveryMPIRank() throws {
        // 8 + 4 slots do not divide among 5 ranks; the next N that does is 7.
        let run = try CLI.mpirun(5, ["run", "--config", "configs/eplb.yaml", "--set", "ranks=5"])
        XCTAssertNotEqual(run.status, 0)
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("epsim: error") }
        XCTAssertEqual(lines.count, 1, run.stderr)
        XCTAssertTrue(lines.first?.hasSuffix("placement.redundant_experts: 4: model.experts + redundant_experts = 12 is not "
                                             + "a multiple of the world size 5 (EPLB gives every rank the same number of slots); try 7") == true,
                      run.stderr)
    }
}
