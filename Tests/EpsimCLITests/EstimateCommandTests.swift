import Foundation
import XCTest

/// `epsim estimate` as a user runs it: its output and result, and one line for each
/// kind of bad input, under mpirun too.
final class EstimateCommandTests: XCTestCase {
    let system = "configs/systems/h800-8x-ib400.yaml"

    func testReportAndResultEqualRunModeledOnlyAndAddTheEstimateFigures() throws {
        let dir = try CLI.temporaryDirectory()
        let out = dir.appendingPathComponent("e.json"), ran = dir.appendingPathComponent("r.json")
        let args = ["--config", "configs/skewed.yaml", "--system", system, "--set", "steps=2"]
        let e = try CLI.epsim(["estimate"] + args + ["--ranks", "6", "--output", out.path])
        XCTAssertEqual(e.status, 0, e.stderr)
        let r = try CLI.epsim(["run"] + args + ["--emulate", "6", "--modeled-only", "--output", ran.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        // Every line of the run's report but its first (transport) and its memory is the
        // estimate's; the estimate adds its own line.
        let body = { (text: String) in
            text.split(separator: "\n").dropFirst().filter { !$0.contains("peak RSS") && !$0.hasPrefix("WARNING") }
        }
        XCTAssertEqual(body(e.stdout).filter { !$0.hasPrefix("estimate:") }, body(r.stdout))
        XCTAssertTrue(e.stdout.hasPrefix("epsim ") && e.stdout.contains("· estimate, 6 ranks"), e.stdout)
        let line = try XCTUnwrap(e.stdout.split(separator: "\n").first { $0.hasPrefix("estimate:") })
        let json = try CLI.json(at: out)
        let estimate = try XCTUnwrap(json["estimate"] as? [String: Any])
        let assignments = try XCTUnwrap(estimate["assignments"] as? Int)
        // skewed.yaml: 512 tokens, top-2, one layer; 2 counted steps on 6 ranks.
        XCTAssertEqual(assignments, 2 * 6 * 512 * 2)
        XCTAssertTrue(line.contains("\(assignments) assignments decided"), String(line))
        XCTAssertGreaterThan(try XCTUnwrap(estimate["ratio_to_plain_loop"] as? Double), 1)
        let run = try CLI.json(at: ran)
        for key in ["modeled", "routing"] {
            let a = try JSONSerialization.data(withJSONObject: try XCTUnwrap(json[key]), options: .sortedKeys)
            let b = try JSONSerialization.data(withJSONObject: try XCTUnwrap(run[key]), options: .sortedKeys)
            XCTAssertEqual(a, b, key)
        }
        XCTAssertEqual((json["environment"] as? [String: Any])?["transport"] as? String, "estimate")
    }

    func testAboveTheMatrixLimitTheMatricesAreNullAndTotalsStay() throws {
        let dir = try CLI.temporaryDirectory()
        let out = dir.appendingPathComponent("e.json")
        let e = try CLI.epsim(["estimate", "--config", "configs/switch.yaml", "--system", system, "--ranks", "1100",
                               "--set", "tokens=4", "--set", "steps=1", "--output", out.path], timeout: 300)
        XCTAssertEqual(e.status, 0, e.stderr)
        let traffic = try XCTUnwrap(try CLI.json(at: out)["traffic"] as? [String: Any])
        XCTAssertTrue(traffic["bytes"] is NSNull)
        XCTAssertTrue(traffic["dispatch_bytes"] is NSNull)
        XCTAssertEqual((traffic["sent_per_rank"] as? [Any])?.count, 1100)
        XCTAssertGreaterThan(try XCTUnwrap(traffic["total_bytes"] as? Int), 0)
        // compare reads it beside a smaller estimate: the modeled and decided figures, no
        // measured block (an estimate times nothing), a heatmap only where a matrix is.
        let small = dir.appendingPathComponent("s.json"), svg = dir.appendingPathComponent("c.svg")
        XCTAssertEqual(try CLI.epsim(["estimate", "--config", "configs/switch.yaml", "--system", system, "--ranks", "64",
                                      "--set", "tokens=4", "--set", "steps=1", "--output", small.path]).status, 0)
        let c = try CLI.epsim(["compare", small.path, out.path, "--system", system, "--svg", svg.path])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stdout.contains("modeled ms (× first) on h800-8x-ib400"), c.stdout)
        XCTAssertFalse(c.stdout.contains("measured"), c.stdout)
        XCTAssertFalse(c.stdout.contains("expert device ms"), c.stdout)
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: svg.path)[.size] as? Int)
        XCTAssertLessThan(size, 5_000_000, "a 64-rank heatmap and none for the 1,100-rank file")
    }

    /// A run beside an estimate: the estimate's measured cells are "-", not 0 ms.
    func testCompareOfARunAndAnEstimateShowsNoMeasuredTimesForTheEstimate() throws {
        let dir = try CLI.temporaryDirectory()
        let run = dir.appendingPathComponent("r.json"), est = dir.appendingPathComponent("e.json")
        let args = ["--config", "configs/skewed.yaml", "--system", system, "--set", "steps=1"]
        XCTAssertEqual(try CLI.epsim(["run"] + args + ["--emulate", "2", "--output", run.path]).status, 0)
        XCTAssertEqual(try CLI.epsim(["estimate"] + args + ["--ranks", "2", "--output", est.path]).status, 0)
        let c = try CLI.epsim(["compare", run.path, est.path, "--system", system])
        XCTAssertEqual(c.status, 0, c.stderr)
        let lines = c.stdout.split(separator: "\n").map(String.init)
        let measured = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("median ms") && $0.contains("measured") }, c.stdout)
        let step = try XCTUnwrap(lines[measured...].first { $0.hasPrefix("  step ") }, c.stdout)
        XCTAssertTrue(step.hasSuffix(" -"), step)
        XCTAssertTrue(step.contains("(1.00×)"), step)
        let share = try XCTUnwrap(lines.first { $0.hasPrefix("communication, measured") }, c.stdout)
        XCTAssertTrue(share.hasSuffix(" -"), share)
    }

    func testBadInputIsOneLine() throws {
        let gating3 = try CLI.file("""
            tokens: 16
            model: {hidden: 8, ffn: 8, experts: 4, top_k: 2, layers: 3}
            workload: gating
            """, named: "gating3.yaml")
        let cases: [([String], String)] = [
            (["--config", "configs/skewed.yaml", "--system", system, "--ranks", "0"], "--ranks: expected 1...65536, got 0"),
            (["--config", "configs/skewed.yaml", "--system", system, "--ranks", "4", "--threads", "0"],
             "--threads: expected 1...1024, got 0"),
            (["--config", "configs/skewed.yaml", "--system", system], "ranks: not set: give the world size with --ranks P"),
            (["--config", gating3, "--system", system, "--ranks", "2"], "workload: gating over 3 layers routes each layer"),
            (["--config", "configs/skewed.yaml", "--system", "configs/systems/nope.yaml", "--ranks", "2"], "nope.yaml"),
            (["--config", "configs/eplb.yaml", "--system", system, "--ranks", "5"], "placement.redundant_experts: 4"),
            (["--config", "configs/skewed.yaml", "--system", system, "--ranks", "2", "--set", "capacity.factor=-1"],
             "capacity.factor"),
            // Far beyond this machine: refused by the memory estimate, before anything runs.
            (["--config", "configs/scale/deepseek-v3-estimate.yaml", "--system", system, "--ranks", "65536"],
             "estimate of 65536 ranks: ranks × ranks = 65536 × 65536 needs an estimated"),
            (["--config", "configs/skewed.yaml", "--system", system, "--ranks", "2", "--routing-format", "npy"],
             "--routing-format npy: needs --routing-out"),
        ]
        for (args, expected) in cases {
            let e = try CLI.epsim(["estimate"] + args)
            XCTAssertNotEqual(e.status, 0, "\(args)")
            XCTAssertEqual(e.epsimErrors.count, 1, "\(args): \(e.stderr)")
            XCTAssertTrue(e.epsimErrors.first?.contains(expected) ?? false, "\(args): \(e.stderr)")
            XCTAssertEqual(e.stdout, "", "\(args)")
        }
    }

    func testUnderMPIEveryRankExitsWithOneLine() throws {
        let e = try CLI.mpirun(2, ["estimate", "--config", "configs/skewed.yaml", "--system", system, "--ranks", "4"])
        XCTAssertNotEqual(e.status, 0)
        XCTAssertEqual(e.epsimErrors.count, 1, e.stderr)
        XCTAssertTrue(e.epsimErrors.first?.contains("start it without mpirun") ?? false, e.stderr)
    }
}
