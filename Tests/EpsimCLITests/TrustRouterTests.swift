import Foundation
import XCTest

/// The examples run as a user would: a noise_std that overflows float32 logits
/// stops every rank with one line (emulated and under mpirun), a 16-layer stack stays
/// finite and verifies, and the routing dump is always valid JSON.
final class TrustRouterTests: XCTestCase {
    private let small = ["--set", "ranks=2", "--set", "tokens=16", "--set", "steps=1", "--set", "warmup_steps=0"]

    /// A noise that would overflow float32 logits is refused before the run, by the
    /// range of router.noise_std, on every rank at once: one line, even under mpirun.
    /// (The router's own check of non-finite logits, which names the source, is tested
    /// on the router itself in RouterNonFiniteTests: no config value reaches it now.)
    private func assertRefused(_ run: CLI.Outcome, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(run.status, 0, file: file, line: line)
        let errors = run.epsimErrors
        XCTAssertEqual(errors, ["epsim: error: --set router.noise_std=1e39: router.noise_std: "
                                + "expected a number in [0, 1000], got 1e39"], run.stderr, file: file, line: line)
        XCTAssertFalse(run.stderr.contains("Fatal error") || run.stderr.contains("Stack dump"), run.stderr,
                       file: file, line: line)
        XCTAssertFalse(run.stdout.contains("PASS"), run.stdout, file: file, line: line)
    }

    func testNoiseThatOverflowsLogitsIsOneLineNotAPass() throws {
        let dir = try CLI.temporaryDirectory()
        let dump = dir.appendingPathComponent("routing.jsonl")
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--verify",
                                 "--set", "router.noise_std=1e39", "--routing-out", dump.path] + small)
        assertRefused(run)
        XCTAssertEqual(run.errorLines.count, 1, run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "no dump is left behind")
    }

    func testNoiseThatOverflowsLogitsStopsEveryMPIRank() throws {
        let run = try CLI.mpirun(2, ["run", "--config", "configs/default.yaml", "--verify",
                                     "--set", "router.noise_std=1e39"] + small, timeout: 90)
        assertRefused(run)
    }

    func testSixteenLayersOfSixtyFourTokensVerifyWithAFiniteError() throws {
        let dir = try CLI.temporaryDirectory()
        let result = dir.appendingPathComponent("result.json")
        // configs/default.yaml with the tokens and layers, at a width that keeps the
        // Double reference quick in a debug build.
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--verify",
                                 "--set", "ranks=2", "--set", "tokens=64", "--set", "model.layers=16",
                                 "--set", "model.hidden=64", "--set", "model.ffn=128",
                                 "--set", "steps=1", "--set", "warmup_steps=0", "--output", result.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let verification = try XCTUnwrap(try CLI.json(at: result)["verification"] as? [String: Any])
        XCTAssertEqual(verification["passed"] as? Bool, true)
        XCTAssertEqual(verification["layers"] as? Int, 16)
        let error = try XCTUnwrap(verification["max_rel_error"] as? Double, "a finite number, not null")
        XCTAssertLessThanOrEqual(error, 1e-5)
    }

    func testRoutingDumpIsValidJSONWithFiniteWeights() throws {
        let dir = try CLI.temporaryDirectory()
        let dump = dir.appendingPathComponent("routing.jsonl")
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2",
                                 "--set", "router.noise_std=3", "--set", "model.layers=2",
                                 "--routing-out", dump.path] + small)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = try String(contentsOf: dump, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2 * 2 * 16 * 2, "layers × ranks × tokens × k")
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            let weight = try XCTUnwrap(object?["weight_after"] as? Double, String(line))
            XCTAssertTrue(weight.isFinite && weight >= 0 && weight <= 1, String(line))
        }
    }
}
