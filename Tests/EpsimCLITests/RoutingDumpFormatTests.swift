import Foundation
import XCTest
import EpsimCore

/// The three formats of `--routing-out` hold the same records: JSON Lines, CSV, and a
/// directory of .npy columns that the project's reader and NumPy read back.
final class RoutingDumpFormatTests: XCTestCase {
    static let columns = ["step", "layer", "rank", "token", "slot", "chosen_expert", "final_expert", "outcome",
                          "weight_before", "weight_after", "buffer_position", "reroute_round", "dest_rank"]
    /// Skewed traffic with reroutes and drops, two layers, uneven ranks.
    let overrides = ["--set", "ranks=3", "--set", "tokens=[40, 24, 33]", "--set", "steps=2", "--set", "warmup_steps=1",
                     "--set", "model.layers=2", "--set", "overflow.policy=reroute", "--set", "overflow.max_reroutes=1",
                     "--set", "capacity.factor=0.75", "--set", "capacity.priority=slot_position"]

    func testJSONLinesCSVAndNpyHoldTheSameRecords() throws {
        let dir = try CLI.temporaryDirectory()
        let jsonl = dir.appendingPathComponent("r.jsonl"), csv = dir.appendingPathComponent("r.csv")
        let npy = dir.appendingPathComponent("r-npy")
        for (path, format) in [(jsonl, "jsonl"), (csv, "csv"), (npy, "npy")] {
            let run = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "3",
                                     "--routing-out", path.path, "--routing-format", format] + overrides)
            XCTAssertEqual(run.status, 0, run.stderr)
        }
        // JSON Lines: the reference records, every field named.
        let records = try String(contentsOf: jsonl, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        XCTAssertEqual(records.count, 2 * 2 * (40 + 24 + 33) * 2, "steps × layers × Σ T_r × k")
        XCTAssertEqual(Set(records[0].keys), Set(Self.columns))
        let outcomes = ["accepted", "rerouted", "dropped"]
        XCTAssertTrue(records.contains { $0["outcome"] as? String == "rerouted" })
        XCTAssertTrue(records.contains { $0["outcome"] as? String == "dropped" })
        func value(_ r: [String: Any], _ c: String) -> Double {
            c == "outcome" ? Double(outcomes.firstIndex(of: r[c] as! String)!) : (r[c] as! NSNumber).doubleValue
        }
        for r in records {
            let dropped = r["outcome"] as? String == "dropped"
            XCTAssertEqual(value(r, "buffer_position") < 0, dropped)
            XCTAssertEqual(value(r, "reroute_round") == 0, r["outcome"] as? String == "accepted")
            if dropped { XCTAssertEqual(value(r, "weight_after"), 0) }
            XCTAssertGreaterThan(value(r, "weight_before"), 0, "dropped slots keep their weight before capacity")
        }
        // CSV: a header row, then the same values in the same order.
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first.map(String.init), Self.columns.joined(separator: ","))
        XCTAssertEqual(rows.count, records.count + 1)
        for (i, row) in rows.dropFirst().enumerated() {
            let fields = row.split(separator: ",").map(String.init)
            for (c, name) in Self.columns.enumerated() {
                let expected = value(records[i], name)
                let got = name == "outcome" ? Double(outcomes.firstIndex(of: fields[c])!) : Double(fields[c])!
                XCTAssertEqual(got, expected, "row \(i) \(name)")
            }
        }
        // npy: one 1-D column per field, read with the project's reader.
        for name in Self.columns {
            let bytes = [UInt8](try Data(contentsOf: npy.appendingPathComponent(name + ".npy")))
            let column = try NpyColumn.parse(bytes, path: name)
            XCTAssertEqual(column.count, records.count, name)
            for (i, r) in records.enumerated() {
                switch column {
                case let .int32(v): XCTAssertEqual(Double(v[i]), value(r, name), "\(name)[\(i)]")
                case let .float32(v): XCTAssertEqual(v[i], Float(value(r, name)), "\(name)[\(i)]")
                }
            }
        }
        // NumPy reads the columns with their dtypes and shapes, and they agree.
        let script = """
            import numpy as np, sys
            d = sys.argv[1]
            c = {n: np.load(d + '/' + n + '.npy') for n in sys.argv[2:]}
            assert all(v.shape == (\(records.count),) for v in c.values())
            assert c['weight_after'].dtype == np.float32 and c['final_expert'].dtype == np.int32
            kept = c['outcome'] != 2
            assert ((c['final_expert'] >= 0) == kept).all() and ((c['buffer_position'] >= 0) == kept).all()
            print('numpy ok', int(kept.sum()))
            """
        let python = try CLI.run("/usr/bin/env", ["python3", "-c", script, npy.path] + Self.columns)
        guard python.status == 0 || !python.stderr.contains("No module named 'numpy'") else {
            throw XCTSkip("python3 with numpy is not installed")
        }
        XCTAssertEqual(python.status, 0, python.stderr)
        let kept = records.filter { $0["outcome"] as? String != "dropped" }.count
        XCTAssertEqual(python.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "numpy ok \(kept)")
    }

    /// Under mpirun the npy columns are byte for byte those of the emulated run.
    func testMPINpyDumpEqualsEmulated() throws {
        let dir = try CLI.temporaryDirectory()
        let a = dir.appendingPathComponent("emulated"), b = dir.appendingPathComponent("mpi")
        let emulated = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "3",
                                      "--routing-out", a.path, "--routing-format", "npy"] + overrides)
        XCTAssertEqual(emulated.status, 0, emulated.stderr)
        let mpi = try CLI.mpirun(3, ["run", "--config", "configs/skewed.yaml",
                                     "--routing-out", b.path, "--routing-format", "npy"] + overrides)
        XCTAssertEqual(mpi.status, 0, mpi.stderr)
        for name in Self.columns {
            XCTAssertEqual(try Data(contentsOf: a.appendingPathComponent(name + ".npy")),
                           try Data(contentsOf: b.appendingPathComponent(name + ".npy")), name)
        }
    }

    func testBadFormatAndPathsAreOneLine() throws {
        let dir = try CLI.temporaryDirectory()
        let bad = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4",
                                 "--routing-out", dir.appendingPathComponent("x").path, "--routing-format", "parquet"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("--routing-format: expected jsonl, csv or npy, got 'parquet'"), bad.stderr)
        let file = dir.appendingPathComponent("file")
        try Data().write(to: file)
        let notDir = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4",
                                    "--routing-out", file.path, "--routing-format", "npy", "--set", "steps=1"])
        XCTAssertEqual(notDir.status, 1)
        XCTAssertEqual(notDir.epsimErrors.count, 1, notDir.stderr)
        XCTAssertTrue(notDir.stderr.contains("it exists and is not a directory"), notDir.stderr)
    }
}
