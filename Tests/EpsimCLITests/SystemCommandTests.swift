import Foundation
import XCTest

/// `--system` on run, compare and sweep, and `validate-model`, through the binary:
/// modeled keys and tables, reproducible numbers, and one-line errors for bad system
/// files (under mpirun, on every rank).
final class SystemCommandTests: XCTestCase {
    private let system = "configs/systems/h800-8x-ib400.yaml"
    private let small = ["--set", "steps=2", "--set", "warmup_steps=1", "--set", "tokens=128"]

    private func modeled(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(try CLI.json(at: url)["modeled"] as? [String: Any])
    }

    func testRunWritesModeledKeysAndTheSameNumbersTwice() throws {
        let dir = try CLI.temporaryDirectory()
        var docs: [[String: Any]] = []
        for i in 0..<2 {
            let out = dir.appendingPathComponent("r\(i).json")
            let run = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4", "--system", system,
                                     "--output", out.path] + small)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains("modeled on h800-8x-ib400"), run.stdout)
            XCTAssertTrue(run.stdout.contains("critical path"), run.stdout)
            docs.append(try modeled(out))
        }
        let m = docs[0]
        XCTAssertEqual((m["system"] as? [String: Any])?["name"] as? String, "h800-8x-ib400")
        let phases = try XCTUnwrap(m["phases"] as? [String: Any])
        for phase in ["route", "permute", "dispatch", "expert", "combine", "unpermute", "shared"] {
            let p = try XCTUnwrap(phases[phase] as? [String: Any], phase)
            XCTAssertEqual((p["per_rank_ms"] as? [Any])?.count, 4, phase)
            XCTAssertNotNil(p["median_ms"] as? Double, phase)
            XCTAssertNotNil(p["max_ms"] as? Double, phase)
        }
        XCTAssertGreaterThan(try XCTUnwrap(m["step_ms"] as? Double), 0)
        let traffic = try XCTUnwrap(m["traffic"] as? [String: Any])
        for key in ["self_bytes", "intra_node_bytes", "inter_node_bytes", "busiest_link", "per_rank"] {
            XCTAssertNotNil(traffic[key], key)
        }
        XCTAssertNotNil(m["dispatch_bottleneck_gbps"] as? Double)
        // Measured times differ from run to run; the modeled ones may not.
        XCTAssertEqual(NSDictionary(dictionary: docs[0]), NSDictionary(dictionary: docs[1]))
    }

    func testModeledOnlyPrintsOnlyTheModeledTable() throws {
        let run = try CLI.epsim(["run", "--config", "configs/mixtral.yaml", "--emulate", "2", "--set", "ranks=2",
                                 "--system", "configs/systems/h200-8x.yaml", "--modeled-only"] + small)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("modeled on h200-8x: median ms"), run.stdout)
        XCTAssertFalse(run.stdout.contains("median ms     min ms"), "no measured table: \(run.stdout)")
        XCTAssertFalse(run.stdout.contains("GFLOP/s measured") || run.stdout.contains("GB/s per rank"),
                       "no measured rates: \(run.stdout)")
        // The modeled numbers do not depend on --modeled-only, even where a later layer's
        // routing reads the experts' outputs (real gating over three layers).
        let dir = try CLI.temporaryDirectory()
        var docs: [NSDictionary] = []
        for extra in [[], ["--modeled-only"]] {
            let out = dir.appendingPathComponent("m\(docs.count).json")
            let r = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2",
                                   "--set", "model.layers=3", "--system", system, "--output", out.path] + small + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            docs.append(NSDictionary(dictionary: try modeled(out)))
        }
        XCTAssertEqual(docs[0], docs[1])
        let csv = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2",
                                 "--system", system, "--modeled-only", "--csv", dir.appendingPathComponent("x.csv").path])
        XCTAssertNotEqual(csv.status, 0)
        XCTAssertTrue(csv.stderr.contains("--csv: holds this host's measured times"), csv.stderr)
        let alone = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--modeled-only"])
        XCTAssertNotEqual(alone.status, 0)
        XCTAssertEqual(alone.stderr.split(separator: "\n").count, 1, alone.stderr)
        XCTAssertTrue(alone.stderr.contains("--modeled-only"), alone.stderr)
    }

    func testBadSystemFilesAreOneLineNamingTheKey() throws {
        let good = try String(contentsOfFile: CLI.root.appendingPathComponent(system).path, encoding: .utf8)
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "devices_per_node: 8", with: "devices_per_node: 0"), "devices_per_node"),
            (good.replacingOccurrences(of: "all_to_all: hierarchical", with: "all_to_all: ring"), "all_to_all"),
            (good + "\nbandwith: 3\n", "bandwith"),
            ("name: x\n", "devices_per_node"),
        ]
        for (text, key) in cases {
            let file = try CLI.file(text, named: "system.yaml")
            let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2",
                                     "--system", file] + small)
            XCTAssertNotEqual(run.status, 0, key)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains(key) && run.stderr.contains("system.yaml"), run.stderr)
        }
        let missing = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2",
                                     "--system", "/nonexistent/s.yaml"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/s.yaml"), missing.stderr)
        // A rank map for another world size.
        let mapped = try CLI.file(good.replacingOccurrences(of: "devices_per_node: 8", with: "devices_per_node: 8\nrank_map: [0, 0, 1]"),
                                  named: "mapped.yaml")
        let wrong = try CLI.mpirun(2, ["run", "--config", "configs/default.yaml", "--set", "ranks=2", "--system", mapped] + small)
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertEqual(wrong.stderr.components(separatedBy: "rank_map").count - 1, 1, "printed once: \(wrong.stderr)")
        // Nodes numbered beyond the ranks (a sparse map would size every per-node table by it).
        let sparse = try CLI.file(good.replacingOccurrences(of: "devices_per_node: 8", with: "devices_per_node: 8\nrank_map: [0, 1000]"),
                                  named: "sparse.yaml")
        let far = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2",
                                 "--system", sparse] + small)
        XCTAssertNotEqual(far.status, 0)
        XCTAssertTrue(far.stderr.contains("rank_map") && far.stderr.contains("node 1000"), far.stderr)
    }

    func testCompareAndSweepRankByModeledTime() throws {
        let dir = try CLI.temporaryDirectory()
        let out = dir.appendingPathComponent("c.json")
        let compare = try CLI.epsim(["compare", "configs/skewed.yaml", "configs/replicated.yaml", "--emulate", "4",
                                     "--system", system, "--output", out.path] + small)
        XCTAssertEqual(compare.status, 0, compare.stderr)
        XCTAssertTrue(compare.stdout.contains("modeled ms (× first)"), compare.stdout)
        XCTAssertTrue(compare.stdout.contains("times modeled on h800-8x-ib400"), compare.stdout)
        let layouts = try XCTUnwrap(try CLI.json(at: out)["layouts"] as? [[String: Any]])
        XCTAssertEqual(layouts.map { $0["times"] as? String }, ["modeled on h800-8x-ib400", "modeled on h800-8x-ib400"])

        // A result file without modeled times cannot be compared on a system.
        let plain = dir.appendingPathComponent("plain.json")
        XCTAssertEqual(try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4", "--output", plain.path]
                                     + small).status, 0)
        let refused = try CLI.epsim(["compare", plain.path, "configs/skewed.yaml", "--emulate", "4", "--system", system] + small)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("has no times modeled on h800-8x-ib400"), refused.stderr)

        let csv = dir.appendingPathComponent("s.csv")
        // A result modeled on one file is not compared on another file of the same name.
        let modeledResult = dir.appendingPathComponent("modeled.json")
        XCTAssertEqual(try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4", "--system", system,
                                      "--output", modeledResult.path] + small).status, 0)
        let good = try String(contentsOfFile: CLI.root.appendingPathComponent(system).path, encoding: .utf8)
        let other = try CLI.file(good.replacingOccurrences(of: "latency_us: 4", with: "latency_us: 5"), named: "other.yaml")
        let mismatch = try CLI.epsim(["compare", modeledResult.path, modeledResult.path, "--system", other])
        XCTAssertNotEqual(mismatch.status, 0)
        XCTAssertTrue(mismatch.stderr.contains("modeled on another file named h800-8x-ib400"), mismatch.stderr)
        let same = try CLI.epsim(["compare", modeledResult.path, modeledResult.path, "--system", system])
        XCTAssertEqual(same.status, 0, same.stderr)

        let sweep = try CLI.epsim(["sweep", "--config", "configs/skewed.yaml", "--emulate", "4", "--system", system,
                                   "--vary", "overflow.policy=drop,reroute", "--csv", csv.path] + small)
        XCTAssertEqual(sweep.status, 0, sweep.stderr)
        XCTAssertTrue(sweep.stdout.contains("step times modeled on h800-8x-ib400"), sweep.stdout)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertTrue(rows[0].contains(",pareto,times,"), String(rows[0]))
        XCTAssertEqual(rows.dropFirst().filter { $0.contains(",modeled on h800-8x-ib400,") }.count, 2)
    }

    func testValidateModelPrintsEveryTableWithinItsBound() throws {
        let run = try CLI.epsim(["validate-model"], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        for title in ["DeepEP normal kernels", "H200 expert phase", "H200 route, permute, unpermute"] {
            XCTAssertTrue(run.stdout.contains(title), title)
        }
        XCTAssertTrue(run.stdout.contains("every table within its bound"), run.stdout)
        // A data directory that does not exist is one line naming it.
        let missing = try CLI.epsim(["validate-model", "--data", "/nonexistent/model-data"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/model-data"), missing.stderr)
    }
}
