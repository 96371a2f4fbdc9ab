import XCTest
import Foundation

/// hot_rank, rotating_hotspot and lognormal through the binary: each runs and verifies on
/// emulated ranks, rotating_hotspot's per-step load moves with its period, and a bad
/// value stops every MPI rank with one line.
final class WorkloadRunTests: XCTestCase {
    static let base = ["--set", "model={hidden: 16, ffn: 32, experts: 8, top_k: 2}", "--set", "tokens=400",
                       "--set", "capacity.factor=none", "--set", "steps=4", "--set", "warmup_steps=2"]

    func testEachRunsAndVerifies() throws {
        for w in ["{kind: hot_rank, rank: 1, fraction: 0.7, sources: [0]}", "{kind: rotating_hotspot, count: 2, fraction: 0.8, period: 2}",
                  "{kind: lognormal, sigma: 1}"] {
            let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--verify"] + Self.base
                                    + ["--set", "workload=\(w)"])
            XCTAssertEqual(run.status, 0, "\(w): \(run.stderr)")
            XCTAssertTrue(run.stdout.contains("decisions_match true"), "\(w): \(run.stdout)")
        }
    }

    /// Counted steps 0-3 are router steps 2-5: hot {2, 3} for 2 and 3, then {4, 5}.
    func testRotatingHotspotPerStepLoad() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("r.json")
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2", "--output", out.path] + Self.base
                                + ["--set", "workload={kind: rotating_hotspot, count: 2, fraction: 0.8, period: 2}"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let steps = try XCTUnwrap((try CLI.json(at: out)["routing"] as? [String: Any])?["per_step"] as? [[String: Any]])
        XCTAssertEqual(steps.count, 4)
        for (i, step) in steps.enumerated() {
            let load = try XCTUnwrap(step["expert_load"] as? [Int])
            let hot = i < 2 ? [2, 3] : [4, 5]
            let share = Double(hot.reduce(0) { $0 + load[$1] }) / Double(load.reduce(0, +))
            // First choices: 0.8 on the window; second choices add (1 − 0.8)-ish: over 0.4 of all assignments.
            XCTAssertGreaterThan(share, 0.4, "counted step \(i): \(load)")
            XCTAssertGreaterThan(hot.map { load[$0] }.min()!, 2 * load.enumerated().filter { !hot.contains($0.offset) }.map(\.element).max()!,
                                 "counted step \(i): \(load)")
        }
    }

    func testBadHotRankStopsEveryMPIRank() throws {
        let run = try CLI.mpirun(2, ["run", "--config", "configs/default.yaml", "--set", "ranks=2"] + Self.base
                                 + ["--set", "workload={kind: hot_rank, rank: 2, fraction: 0.5}"])
        XCTAssertNotEqual(run.status, 0)
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("epsim: error") }
        XCTAssertEqual(lines.count, 1, run.stderr)
        XCTAssertTrue(lines.first?.hasSuffix("workload.rank: rank 2 is out of range 0..<2 (the world size)") == true, run.stderr)
    }
}
