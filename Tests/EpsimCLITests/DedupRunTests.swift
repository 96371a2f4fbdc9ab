import Foundation
import XCTest

/// `dispatch.dedup: rank` end to end on the DeepSeek-style layout (top-8 of 64 experts,
/// 16 per rank): verified, every byte of the traffic matrix accounted for by the distinct
/// (token, destination rank) pairs of the routing dump, fewer bytes than `dedup: none`,
/// and the same matrices under mpirun as on emulated ranks.
final class DedupRunTests: XCTestCase {
    private let overrides = ["--set", "steps=2", "--set", "warmup_steps=1", "--set", "tokens=128"]

    /// pairs[r][p]: distinct (step, layer, token of r) with a surviving slot on rank p.
    private func pairs(dump url: URL, ranks P: Int) throws -> [[Int64]] {
        var seen = Set<String>()
        var out = [[Int64]](repeating: [Int64](repeating: 0, count: P), count: P)
        for raw in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any])
            let r = o["rank"] as! Int, p = o["dest_rank"] as! Int
            guard p >= 0 else { continue }
            if seen.insert("\(o["step"]!)/\(o["layer"]!)/\(r)/\(o["token"]!)/\(p)").inserted { out[r][p] += 1 }
        }
        return out
    }

    private func matrices(_ json: [String: Any]) throws -> (dispatch: [[Int64]], combine: [[Int64]]) {
        let traffic = try XCTUnwrap(json["traffic"] as? [String: Any])
        func m(_ key: String) throws -> [[Int64]] {
            try XCTUnwrap(traffic[key] as? [[Any]]).map { $0.map { Int64($0 as! Int) } }
        }
        return (try m("dispatch_bytes"), try m("combine_bytes"))
    }

    func testDedupRankBytesArePairsTimesHeaderAndRowAndFewerThanNone() throws {
        let dir = try CLI.temporaryDirectory()
        var dispatched: [String: Int64] = [:]
        for dedup in ["none", "rank"] {
            let dump = dir.appendingPathComponent("\(dedup).jsonl"), result = dir.appendingPathComponent("\(dedup).json")
            let run = try CLI.epsim(["run", "--config", "configs/deepseek.yaml", "--emulate", "4", "--verify",
                                     "--set", "dispatch.dedup=\(dedup)", "--routing-out", dump.path,
                                     "--output", result.path] + overrides)
            XCTAssertEqual(run.status, 0, run.stderr)
            let json = try CLI.json(at: result)
            XCTAssertEqual((json["verification"] as? [String: Any])?["passed"] as? Bool, true, "\(dedup)")
            XCTAssertEqual((json["config"] as? [String: Any]).flatMap { $0["dispatch"] as? [String: Any] }?["dedup"] as? String,
                           dedup)
            let (dispatch, combine) = try matrices(json)
            dispatched[dedup] = dispatch.joined().reduce(0, +)
            guard dedup == "rank" else { continue }
            // fp8_e4m3 dispatch of H 256: 4 + 256 bytes, after a 8 · 8-byte header; bf16 combine: 512.
            let n = try pairs(dump: dump, ranks: 4)
            for r in 0..<4 {
                for p in 0..<4 {
                    XCTAssertEqual(dispatch[r][p], n[r][p] * (64 + 260), "dispatch \(r) → \(p)")
                    XCTAssertEqual(combine[p][r], n[r][p] * 512, "combine \(p) → \(r)")
                }
            }
        }
        // Top-8 of 64 experts on 4 ranks: most tokens send several slots to one rank.
        XCTAssertLessThan(dispatched["rank"]!, dispatched["none"]! * 6 / 10)
    }

    /// Under mpirun the same layout moves exactly the same bytes and verifies.
    func testMPIDedupRunMovesTheSameBytesAsTheEmulatedOne() throws {
        let dir = try CLI.temporaryDirectory()
        let emulated = dir.appendingPathComponent("emulated.json"), mpi = dir.appendingPathComponent("mpi.json")
        let settings = ["run", "--config", "configs/mixtral.yaml", "--verify", "--set", "dispatch.dedup=rank"] + overrides
        let a = try CLI.epsim(settings + ["--emulate", "4", "--output", emulated.path])
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try CLI.mpirun(4, settings + ["--output", mpi.path])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stdout.contains("mpi, 4 ranks"), b.stdout)
        let (x, y) = (try matrices(try CLI.json(at: emulated)), try matrices(try CLI.json(at: mpi)))
        XCTAssertEqual(x.dispatch, y.dispatch)
        XCTAssertEqual(x.combine, y.combine)
        XCTAssertEqual((try CLI.json(at: mpi)["verification"] as? [String: Any])?["passed"] as? Bool, true)
    }
}
