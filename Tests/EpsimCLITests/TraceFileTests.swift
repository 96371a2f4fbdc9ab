import Foundation
import XCTest

/// `--trace`: the slices are named by Megatron-Core's stages (permute's sub-stages apart),
/// carry the overlap chunk when `overlap.chunks` > 1, and carry the bytes each token
/// dispatch and combine moved, which add up to the result's traffic matrix.
final class TraceFileTests: XCTestCase {
    /// Runs `configs/default.yaml` on 2 emulated ranks for 2 counted steps with `sets`;
    /// returns the trace's complete events and the result JSON.
    private func run(_ sets: [String]) throws -> (slices: [[String: Any]], result: [String: Any]) {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("t.json"), output = dir.appendingPathComponent("r.json")
        var args = ["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "steps=2",
                    "--set", "warmup_steps=1", "--trace", trace.path, "--output", output.path]
        for s in sets { args += ["--set", s] }
        let run = try CLI.epsim(args)
        XCTAssertEqual(run.status, 0, run.stderr)
        let doc = try CLI.json(at: trace)
        let events = try XCTUnwrap(doc["traceEvents"] as? [[String: Any]])
        return (events.filter { $0["ph"] as? String == "X" }, try CLI.json(at: output))
    }

    private func args(_ e: [String: Any]) -> [String: Any] { e["args"] as? [String: Any] ?? [:] }

    func testStagesAreNamedApartWithTheirPhase() throws {
        let (slices, _) = try run([])
        let names = Set(slices.compactMap { $0["name"] as? String })
        XCTAssertEqual(names, ["route", "capacity decisions", "dispatch preprocess", "token dispatch",
                               "dispatch postprocess", "expert", "combine preprocess", "token combine",
                               "combine postprocess", "shared", "step"])
        var phaseOf: [String: Set<String>] = [:]
        for e in slices { phaseOf[e["name"] as! String, default: []].insert(args(e)["phase"] as? String ?? "?") }
        XCTAssertEqual(phaseOf["capacity decisions"], ["permute"])
        XCTAssertEqual(phaseOf["dispatch preprocess"], ["permute"])
        XCTAssertEqual(phaseOf["dispatch postprocess"], ["permute"])
        XCTAssertEqual(phaseOf["combine preprocess"], ["unpermute"])
        XCTAssertEqual(phaseOf["combine postprocess"], ["unpermute"])
        XCTAssertEqual(phaseOf["token dispatch"], ["dispatch"])
        XCTAssertEqual(phaseOf["token combine"], ["combine"])
        // Without overlap no slice carries a chunk.
        XCTAssertTrue(slices.allSatisfy { args($0)["chunk"] == nil })
        // Only the exchanges carry bytes.
        for e in slices {
            let name = e["name"] as! String
            let exchange = name == "token dispatch" || name == "token combine"
            XCTAssertEqual(args(e)["bytes_sent"] != nil, exchange, name)
            XCTAssertEqual(args(e)["bytes_received"] != nil, exchange, name)
        }
    }

    func testChunksAndBytesWithOverlap() throws {
        let (slices, result) = try run(["overlap.chunks=3"])
        // Every chunked stage shows each chunk once per rank, layer and step.
        for name in ["dispatch preprocess", "dispatch postprocess", "expert", "combine preprocess", "combine postprocess"] {
            for rank in 0..<2 {
                for step in 0..<2 {
                    let chunks = slices.filter {
                        $0["name"] as? String == name && $0["tid"] as? Int == rank && args($0)["step"] as? Int == step
                    }.compactMap { args($0)["chunk"] as? Int }
                    XCTAssertEqual(chunks.sorted(), [0, 1, 2], "\(name) rank \(rank) step \(step)")
                }
            }
        }
        XCTAssertTrue(slices.filter { $0["name"] as? String == "route" }.allSatisfy { args($0)["chunk"] == nil })

        // The bytes on the exchange slices add up to the traffic matrix, off the diagonal.
        let traffic = try XCTUnwrap(result["traffic"] as? [String: Any])
        for (name, key) in [("token dispatch", "dispatch_bytes"), ("token combine", "combine_bytes")] {
            let matrix = try XCTUnwrap(traffic[key] as? [[Int]])
            for rank in 0..<2 {
                let mine = slices.filter { $0["name"] as? String == name && $0["tid"] as? Int == rank }
                let sent = mine.compactMap { args($0)["bytes_sent"] as? Int }.reduce(0, +)
                let received = mine.compactMap { args($0)["bytes_received"] as? Int }.reduce(0, +)
                let other = 1 - rank
                XCTAssertGreaterThan(sent, 0, name)
                XCTAssertEqual(sent, matrix[rank][other], "\(name) rank \(rank) sent")
                XCTAssertEqual(received, matrix[other][rank], "\(name) rank \(rank) received")
                // Each chunk's exchange carries its bytes once (on the slice that started it).
                let chunksWithBytes = mine.filter { args($0)["bytes_sent"] != nil }.compactMap { args($0)["chunk"] as? Int }
                XCTAssertEqual(chunksWithBytes.sorted(), [0, 0, 1, 1, 2, 2], name)
            }
        }
    }
}
