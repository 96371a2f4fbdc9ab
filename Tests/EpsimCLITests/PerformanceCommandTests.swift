import Foundation
import XCTest

/// End to end: `epsim bench`, overlapped layers, modeled compute.
final class PerformanceCommandTests: XCTestCase {
    func testBenchUnderMPIPrintsEveryRatioAndWritesJSON() throws {
        let dir = try CLI.temporaryDirectory()
        let output = dir.appendingPathComponent("b.json")
        let run = try CLI.mpirun(2, ["bench", "--config", "configs/mixtral.yaml", "--set", "ranks=2",
                                     "--set", "steps=3", "--set", "tokens=128", "--iterations", "5", "--warmup", "1",
                                     "--memory-steps", "20", "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        for part in ["dispatch+combine", "expert", "permute+unpermute", "route", "capacity decisions", "step overhead", "memory"] {
            XCTAssertTrue(run.stdout.contains("\n\(part) "), "no \(part) row in\n\(run.stdout)")
        }
        let json = try CLI.json(at: output)
        XCTAssertEqual(json["schema"] as? String, "epsim.bench/1")
        let parts = try XCTUnwrap(json["parts"] as? [[String: Any]])
        XCTAssertEqual(parts.map { $0["name"] as? String }, ["dispatch+combine", "expert", "permute+unpermute", "route"])
        for part in parts {
            XCTAssertEqual(part["baseline_samples"] as? Int, 2 * 5, "\(part)")
            XCTAssertEqual(part["layer_samples"] as? Int, 2 * 3, "\(part)")
            let ratio = try XCTUnwrap(part["ratio"] as? Double, "\(part)")
            XCTAssertGreaterThan(ratio, 0)
            let layer = try XCTUnwrap(part["layer_median_ms"] as? Double)
            let baseline = try XCTUnwrap(part["baseline_median_ms"] as? Double)
            XCTAssertEqual(ratio, layer / baseline, accuracy: 1e-9 * ratio)
        }
        // The exchange baseline counts the counts exchange, and has its second baseline
        // (after the experts' sgemm); the capacity row is per assignment, 128 tokens × top-2.
        XCTAssertTrue(run.stdout.contains("baseline: bare counts exchange + bare all-to-allv"), run.stdout)
        XCTAssertNotNil(parts[0]["alternate_baseline_median_ms"] as? Double, "\(parts[0])")
        XCTAssertTrue(parts[1...].allSatisfy { $0["alternate_baseline"] is NSNull }, "\(parts)")
        let capacity = try XCTUnwrap(json["capacity"] as? [String: Any])
        XCTAssertEqual(capacity["layer_samples"] as? Int, 2 * 3)
        let perAssignment = try XCTUnwrap(capacity["ns_per_assignment"] as? Double)
        let stageMs = try XCTUnwrap(capacity["layer_median_ms"] as? Double)
        XCTAssertGreaterThan(perAssignment, 0)
        XCTAssertEqual(perAssignment, stageMs * 1e6 / 256, accuracy: 1e-6 * perAssignment)
        XCTAssertEqual(capacity["met"] as? Bool, perAssignment < 30)
        let host = try XCTUnwrap(json["host"] as? [String: Any])
        XCTAssertGreaterThan(host["cores"] as? Int ?? 0, 0)
        XCTAssertEqual(host["warning"] as? String != nil, run.stdout.contains("\nWARNING: "), run.stdout)
        let memory = try XCTUnwrap(json["memory"] as? [String: Any])
        XCTAssertEqual(memory["steps"] as? Int, 20)
        XCTAssertGreaterThan(memory["resident_before_bytes"] as? Int ?? 0, 1 << 20)
    }

    func testOverlapChunksVerify() throws {
        for chunks in [1, 2, 4] {
            let run = try CLI.epsim(["run", "--config", "configs/mixtral.yaml", "--emulate", "4", "--verify",
                                     "--set", "steps=1", "--set", "tokens=64", "--set", "model.ffn=128", "--set", "overlap.chunks=\(chunks)"])
            XCTAssertEqual(run.status, 0, "chunks \(chunks): \(run.stderr)")
            XCTAssertTrue(run.stdout.contains("decisions_match true"), run.stdout)
            XCTAssertTrue(run.stdout.contains(": PASS"), run.stdout)
        }
        let mpi = try CLI.mpirun(2, ["run", "--config", "configs/mixtral.yaml", "--set", "ranks=2", "--verify",
                                     "--set", "steps=1", "--set", "tokens=64", "--set", "model.ffn=128", "--set", "overlap.chunks=4"])
        XCTAssertEqual(mpi.status, 0, mpi.stderr)
        XCTAssertTrue(mpi.stdout.contains(": PASS"), mpi.stdout)
        let bad = try CLI.epsim(["run", "--config", "configs/mixtral.yaml", "--emulate", "4", "--set", "overlap.chunks=0"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.errorLines, ["epsim: error: --set overlap.chunks=0: overlap.chunks: expected an integer in [1, 64], got 0"])
    }

    func testModeledComputeChargesTheModeledTime() throws {
        // 16 ranks, 2 experts each; 64 tokens × top-2 per rank. At 0.001 TFLOP/s and
        // efficiency 1, one row through a 128×256 SwiGLU expert (6·H·F FLOPs) takes
        // 0.197 ms, so each rank's expert phase waits at least rows × 0.197 ms.
        let dir = try CLI.temporaryDirectory()
        let output = dir.appendingPathComponent("m.json")
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "16", "--set", "ranks=16",
                                 "--set", "model.experts=32", "--set", "model.hidden=128", "--set", "model.ffn=256",
                                 "--set", "tokens=64", "--set", "steps=2",
                                 "--set", "compute={mode: modeled, tflops: 0.001, efficiency: 1}",
                                 "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("experts: modeled compute: the device takes "), run.stdout)
        XCTAssertFalse(run.stdout.contains("GFLOP/s"), "a sleep has no measured rate: \(run.stdout)")
        let json = try CLI.json(at: output)
        XCTAssertEqual((json["compute"] as? [String: Any])?["mode"] as? String, "modeled")
        let routing = try XCTUnwrap(json["routing"] as? [String: Any])
        let load = try XCTUnwrap(routing["rank_load"] as? [Int])
        let phases = try XCTUnwrap(json["phases"] as? [String: Any])
        let expert = try XCTUnwrap(phases["expert"] as? [String: Any])
        let perRank = try XCTUnwrap(expert["per_rank_mean_ms"] as? [Double])
        let rowMs = 6.0 * 128 * 256 / 1e9 * 1e3
        for r in 0..<16 {
            let modeled = Double(load[r]) / 2 * rowMs
            XCTAssertGreaterThanOrEqual(perRank[r], modeled * 0.999, "rank \(r)")
        }
        // The device time reported is the slowest rank's (the critical path), not a median.
        let device = try XCTUnwrap((json["compute"] as? [String: Any])?["modeled_device_ms"] as? Double)
        // Per step at least every rank's rows, so on average at least the busiest rank's
        // mean; and above the median rank's (the figure printed before).
        XCTAssertGreaterThanOrEqual(device, Double(load.max()!) / 2 * rowMs * 0.999)
        XCTAssertGreaterThan(device, Double(load.sorted()[8]) / 2 * rowMs)
    }
}
