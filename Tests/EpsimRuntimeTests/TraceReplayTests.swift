import Foundation
import XCTest
import EpsimCore
@testable import EpsimRuntime

/// A replayed trace routes each (step, layer) as the trace says, through a whole
/// emulated run (docs/traces.md), read back from the routing dump.
final class TraceReplayTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("trace-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Runs `yaml` on `ranks` emulated ranks with a routing dump; its JSON records.
    func dumpedRun(_ yaml: String, ranks: Int) throws -> [[String: Any]] {
        let config = try ConfigLoader.parse(yaml: yaml, file: dir.appendingPathComponent("run.yaml").path)
        try ConfigLoader.validate(config, worldSize: ranks)
        let path = dir.appendingPathComponent("routing.jsonl").path
        _ = try EmulatedWorld.run(ranks: ranks) { t in
            let dump = try RoutingDump(path: path, rank: t.rank)
            _ = try Simulation.execute(config, transport: t, settings: .init(), dump: dump)
        }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func write(_ name: String, descr: String, shape: [Int], _ bytes: [UInt8]) throws {
        try Data(NpyWriter.header(descr: descr, shape: shape) + bytes).write(to: dir.appendingPathComponent(name))
    }

    /// [steps 2, layers 2, tokens 4, E 4] on 2 ranks of 2 tokens, 2 layers, 3 counted
    /// steps after 1 warm-up, dropless: every (step, layer, rank, token) chooses the top-2
    /// of its trace row, trace step = counted step mod 2.
    func testFourDimensionalTraceRoutesEachStepAndLayerAsRecorded() throws {
        let S = 2, L = 2, rows = 4, E = 4, k = 2
        // Row (s, l, r): expert (s·3 + l·2 + r) mod E is first (logit 10), the next second (5).
        func top(_ s: Int, _ l: Int, _ r: Int) -> Int { (s * 3 + l * 2 + r) % E }
        var logits: [Float] = []
        for s in 0..<S { for l in 0..<L { for r in 0..<rows {
            logits += (0..<E).map { e in e == top(s, l, r) ? 10 : e == (top(s, l, r) + 1) % E ? 5 : Float(e) / 100 }
        } } }
        try write("logits.npy", descr: "<f4", shape: [S, L, rows, E],
                  logits.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } })
        let records = try dumpedRun("""
            model: {hidden: 8, ffn: 8, experts: 4, top_k: 2, layers: 2}
            tokens: 2
            workload: {kind: trace, file: logits.npy}
            capacity: {factor: none}
            compute: modeled
            steps: 3
            warmup_steps: 1
            """, ranks: 2)
        XCTAssertEqual(records.count, 3 * L * rows * k)
        var choicesBySlab: [[Int]: [Int]] = [:]
        for rec in records {
            let step = try XCTUnwrap(rec["step"] as? Int), layer = try XCTUnwrap(rec["layer"] as? Int)
            let rank = try XCTUnwrap(rec["rank"] as? Int), token = try XCTUnwrap(rec["token"] as? Int)
            let slot = try XCTUnwrap(rec["slot"] as? Int)
            let row = rank * 2 + token, first = top(step % S, layer, row)
            XCTAssertEqual(rec["chosen_expert"] as? Int, slot == 0 ? first : (first + 1) % E, "\(rec)")
            XCTAssertEqual(rec["final_expert"] as? Int, rec["chosen_expert"] as? Int, "dropless: \(rec)")
            choicesBySlab[[step % S, layer], default: []].append(try XCTUnwrap(rec["chosen_expert"] as? Int))
        }
        // Counted step 2 replays trace step 0: the same choices as step 0 (wrap) ...
        let byStep = { (s: Int) in records.filter { $0["step"] as? Int == s }.map { $0["chosen_expert"] as! Int } }
        XCTAssertEqual(byStep(2), byStep(0))
        XCTAssertNotEqual(byStep(1), byStep(0))
        // ... and every (trace step, layer) routes differently.
        let slabs = [[0, 0], [0, 1], [1, 0], [1, 1]].map { Array(choicesBySlab[$0]!.prefix(rows * k)) }
        XCTAssertEqual(Set(slabs).count, 4)
    }

    /// A top-k trace: the decisions are the file's indices and weights (no capacity drops).
    func testTopKTraceDecisionsAreTheRecordedOnes() throws {
        let ids: [Int32] = [3, 1, 0, 2, 2, 3, 1, 0,   0, 1, 3, 2, 1, 2, 2, 0]
        let weights: [Float] = [0.7, 0.3, 0.5, 0.5, 0.9, 0.1, 0.6, 0.4,   1, 0, 0.25, 0.75, 0.5, 0.5, 0.2, 0.8]
        try write("ids.npy", descr: "<i4", shape: [2, 4, 2], ids.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } })
        // The weights as bfloat16 bits (all exact in bf16 except 0.7, 0.3, 0.9, 0.1, 0.6,
        // 0.4, 0.2, 0.8, which become their bf16 roundings: compared as such).
        let bf = weights.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
        try write("w.npy", descr: "<u2", shape: [2, 4, 2], bf.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } })
        let records = try dumpedRun("""
            model: {hidden: 8, ffn: 8, experts: 4, top_k: 2, layers: 2}
            tokens: 2
            workload: {kind: topk_trace, topk_ids: ids.npy, topk_weights: w.npy, dtype: bf16}
            capacity: {factor: none}
            compute: modeled
            steps: 2
            warmup_steps: 0
            """, ranks: 2)
        XCTAssertEqual(records.count, 2 * 2 * 4 * 2)
        for rec in records {
            let layer = rec["layer"] as! Int, rank = rec["rank"] as! Int, token = rec["token"] as! Int, slot = rec["slot"] as! Int
            let i = ((layer * 2 + rank) * 2 + token) * 2 + slot
            XCTAssertEqual(rec["chosen_expert"] as? Int, Int(ids[i]), "\(rec)")
            XCTAssertEqual(rec["final_expert"] as? Int, Int(ids[i]), "\(rec)")
            XCTAssertEqual(rec["outcome"] as? String, "accepted")
            let bf16 = Float(bitPattern: UInt32(bf[i]) << 16)
            // The dump writes float32 weights in their shortest decimal form.
            XCTAssertEqual((rec["weight_before"] as? Double).map(Float.init), bf16, "\(rec)")
            XCTAssertEqual((rec["weight_after"] as? Double).map(Float.init), bf16, "\(rec)")
        }
    }
}
