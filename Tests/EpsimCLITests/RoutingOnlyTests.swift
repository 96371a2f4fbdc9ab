import Foundation
import XCTest
import EpsimCore

/// `epsim run --routing-only`: the same decisions as a full run, no hidden sizes needed,
/// tokens from a trace, and one-line refusals.
final class RoutingOnlyTests: XCTestCase {
    /// A trace of `rows` × 8 logits and a config that routes it (no tokens, no model sizes).
    private func traceConfig(rows: Int, extra: String = "") throws -> (config: String, dir: URL) {
        let dir = try CLI.temporaryDirectory()
        var rng = SystemRandomNumberGenerator()
        let logits = (0..<(rows * 8)).map { _ in Float.random(in: -3...3, using: &rng) }
        try NpyWriter.write(path: dir.appendingPathComponent("t.npy").path, rows: rows, cols: 8, data: logits)
        let yaml = """
            model: {experts: 8, top_k: 2}
            workload: {kind: trace, file: t.npy}
            capacity: {factor: 1.0}
            overflow: {policy: reroute}
            steps: 2
            warmup_steps: 0
            \(extra)
            """
        let path = dir.appendingPathComponent("trace.yaml")
        try yaml.write(to: path, atomically: true, encoding: .utf8)
        return (path.path, dir)
    }

    func testTokensComeFromTheTraceRows() throws {
        let (config, dir) = try traceConfig(rows: 101)
        let result = dir.appendingPathComponent("r.json")
        let run = try CLI.epsim(["run", "--config", config, "--emulate", "3", "--routing-only", "--output", result.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("routing only"), run.stdout)
        XCTAssertTrue(run.stdout.contains("tokens per rank 34 34 33"), run.stdout)
        XCTAssertTrue(run.stdout.contains("accounting: 404 assignments"), run.stdout)
        let json = try CLI.json(at: result)
        XCTAssertEqual(json["routing_only"] as? Bool, true)
        XCTAssertEqual((json["config"] as? [String: Any])?["tokens"] as? [Int], [34, 34, 33])
        let routing = try XCTUnwrap(json["routing"] as? [String: Any])
        XCTAssertEqual(routing["assignments"] as? Int, 2 * 101 * 2)
        // C = ceil(34 · 2 / 8) = 9 on ranks 0 and 1, ceil(33 · 2 / 8) = 9 on rank 2.
        XCTAssertEqual(routing["capacity_per_layer"] as? [[Int]], [[9, 9, 9]])
        // No dispatch: nothing moved.
        XCTAssertEqual(((json["traffic"] as? [String: Any])?["total_bytes"] as? Int) ?? 0, 0)
    }

    /// `validate --routing-only` resolves the config as the routing-only run will: the
    /// tokens from the trace's rows and the placeholder sizes, not the defaults.
    func testValidateResolvesWhatTheRoutingOnlyRunUses() throws {
        let (config, _) = try traceConfig(rows: 101)
        // Without --routing-only, tokens keep their default (512 per rank), which the
        // trace's 101 rows cannot feed: validate reads the headers and says so.
        let plain = try CLI.epsim(["validate", "--config", config, "--emulate", "3"])
        XCTAssertEqual(plain.status, 1, plain.stderr)
        XCTAssertTrue(plain.stderr.contains("t.npy: expected at least 1536 rows (the tokens of all 3 ranks), got 101\n"), plain.stderr)
        let routing = try CLI.epsim(["validate", "--config", config, "--emulate", "3", "--routing-only"])
        XCTAssertEqual(routing.status, 0, routing.stderr)
        XCTAssertTrue(routing.stdout.contains("tokens: [34, 34, 33]\n"), routing.stdout)
        XCTAssertTrue(routing.stdout.contains("  hidden: 1\n"), routing.stdout)
    }

    func testATraceThatDoesNotFitIsRefusedInOneLine() throws {
        let (config, _) = try traceConfig(rows: 100, extra: "tokens: 30")
        let emulated = try CLI.epsim(["run", "--config", config, "--emulate", "3", "--routing-only"])
        XCTAssertEqual(emulated.status, 1)
        XCTAssertEqual(emulated.epsimErrors,
                       ["epsim: error: \(config): tokens: \(config.dropLast(10))t.npy has 100 rows, expected 90 "
                        + "(tokens 30 on each of 3 ranks); --routing-only replays every row: leave tokens out to take them from the file"])
        let mpi = try CLI.mpirun(2, ["run", "--config", config, "--routing-only"])
        XCTAssertNotEqual(mpi.status, 0)
        XCTAssertEqual(mpi.epsimErrors.count, 1, mpi.stderr)
        XCTAssertTrue(mpi.epsimErrors.first?.contains("has 100 rows, expected 60 (tokens 30 on each of 2 ranks)") == true,
                      mpi.stderr)
    }

    func testGatingNeedsTheHiddenSize() throws {
        let config = try CLI.file("model: {experts: 8}\nsteps: 1\n", named: "g.yaml")
        let run = try CLI.epsim(["run", "--config", config, "--emulate", "2", "--routing-only"])
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.epsimErrors, ["epsim: error: \(config): model.hidden: --routing-only with workload gating "
                                         + "computes the logits x · Wg: give the hidden size H"])
        let layers = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--routing-only",
                                    "--set", "model.layers=2"])
        XCTAssertEqual(layers.status, 1)
        XCTAssertTrue(layers.epsimErrors.first?.contains("model.layers: 2 layers with workload gating") == true, layers.stderr)
    }

    /// Routing alone decides what the full run decides: the dumps are identical, for a
    /// synthetic workload (hidden sizes replaced) and for gating (one layer).
    func testDecisionsEqualThoseOfAFullRun() throws {
        let dir = try CLI.temporaryDirectory()
        for (config, ranks) in [("configs/skewed.yaml", 4), ("configs/default.yaml", 4)] {
            let full = dir.appendingPathComponent("full.jsonl"), only = dir.appendingPathComponent("only.jsonl")
            let common = ["--config", config, "--emulate", String(ranks), "--set", "steps=2",
                          "--set", "overflow.policy=reroute", "--set", "capacity.factor=0.8"]
            let a = try CLI.epsim(["run", "--routing-out", full.path] + common)
            XCTAssertEqual(a.status, 0, a.stderr)
            let b = try CLI.epsim(["run", "--routing-only", "--routing-out", only.path] + common)
            XCTAssertEqual(b.status, 0, b.stderr)
            XCTAssertFalse(b.stdout.contains("traffic:") || b.stdout.contains("median ms     min ms"), b.stdout)
            XCTAssertEqual(try Data(contentsOf: full), try Data(contentsOf: only), config)
        }
    }

    func testOptionsThatNeedTheDataPathAreRefused() throws {
        let run = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4", "--routing-only", "--verify"])
        XCTAssertEqual(run.status, 64)
        XCTAssertTrue(run.stderr.contains("--verify: reports the dispatch, experts or combine, which --routing-only does not run"),
                      run.stderr)
    }
}
