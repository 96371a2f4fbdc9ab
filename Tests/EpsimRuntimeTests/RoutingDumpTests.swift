import Foundation
import XCTest
import EpsimCore
@testable import EpsimRuntime

/// The routing dump is JSON Lines whatever the weights hold.
final class RoutingDumpTests: XCTestCase {
    func testNonFiniteWeightsAreWrittenAsNull() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dump-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("routing.jsonl").path
        var d = RoutingDecisions()
        d.reset(tokens: 2, topK: 2, experts: 4)
        let weights: [Float] = [.nan, -.infinity, 0.25, 1e-5]
        for a in 0..<4 {
            d.finalExpert[a] = Int32(a)
            d.destRank[a] = 0
            d.outcome[a] = .accepted
            d.weight[a] = weights[a]
        }
        let chosen: [Int32] = [0, 1, 2, 3], decisions = d
        _ = try EmulatedWorld.run(ranks: 1) { t in
            let dump = try RoutingDump(path: path, rank: 0)
            try chosen.withUnsafeBufferPointer { c in
                try weights.withUnsafeBufferPointer { w in
                    try dump.record(step: 0, layer: 0, rank: 0, chosen: c, weights: w, decisions: decisions, transport: t)
                }
            }
            try dump.commit()
        }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        let parsed = try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        for key in ["weight_before", "weight_after"] {
            XCTAssertTrue(parsed[0][key] is NSNull, String(lines[0]))
            XCTAssertTrue(parsed[1][key] is NSNull, String(lines[1]))
            XCTAssertEqual(parsed[2][key] as? Double, 0.25)
            XCTAssertEqual(parsed[3][key] as? Double, 1e-5)
        }
    }
}
