import Foundation
import XCTest
@testable import EpsimCore

/// What the router rejects, and the trace files' messages (pinned).
extension RouterTests {
    func routerError(_ c: SimConfig, worldSize: Int = 1) -> String {
        do {
            _ = try Router(config: c, worldSize: worldSize)
            return "no error"
        } catch {
            return error.description
        }
    }

    /// The router checks its config with `ConfigValidator`: the loader's messages.
    func testRejectsInconsistentRouterSettings() {
        var c = Self.config(experts: 8, topK: 2, bias: [1, 2, 3])
        c.sourcePath = "run.yaml"
        XCTAssertEqual(routerError(c), "run.yaml: router.bias: expected 8 entries (model.experts) or none, got 3")
        c = Self.config(experts: 8, topK: 2, groups: 3)
        XCTAssertEqual(routerError(c), "router.groups: 3 does not divide model.experts (8)")
        c = Self.config(experts: 8, topK: 4, groups: 4, groupsPerToken: 1)
        XCTAssertEqual(routerError(c), "router.groups_per_token: 1 groups of 2 experts hold fewer than model.top_k (4)")
        c = Self.config(experts: 8, topK: 9)
        XCTAssertEqual(routerError(c), "model.top_k: 9 exceeds model.experts (8)")
        c = Self.config(experts: 8, topK: 2, workload: .hot(experts: [1, 8], fraction: 0.5))
        XCTAssertEqual(routerError(c), "workload.experts: expert 8 is out of range 0..<8")
        c = Self.config(experts: 8, topK: 2, workload: .hot(experts: [1], fraction: 1.5))
        XCTAssertEqual(routerError(c), "workload.fraction: expected a number in (0, 1), got 1.5")
        c = Self.config(experts: 8, topK: 2, tokens: .perRank([4, 4, 4]))
        XCTAssertEqual(routerError(c, worldSize: 2),
                       "tokens: lists 3 ranks, but the run has 2; give one count per rank or run it with --emulate 3 or mpirun -n 3")
    }

    func traceError(_ files: [String], experts: Int = 8, tokens: [Int]) -> String {
        var c = Self.config(experts: experts, topK: 2, workload: .trace(files: files), tokens: .perRank(tokens))
        c.sourcePath = "run.yaml"
        return routerError(c, worldSize: tokens.count)
    }

    func testTraceErrorsNameTheFileAndTheProblem() throws {
        let six = path("six.npy"), small = path("small.npy"), ok = path("ok.npy"), nan = path("nan.npy")
        try NpyWriter.write(path: six, rows: 10, cols: 6, data: [Float](repeating: 0, count: 60))
        try NpyWriter.write(path: small, rows: 10, cols: 8, data: [Float](repeating: 0, count: 80))
        try NpyWriter.write(path: ok, rows: 40, cols: 8, data: [Float](repeating: 0, count: 320))
        var bad = [Float](repeating: 0, count: 80)
        bad[8 * 3 + 5] = .nan
        try NpyWriter.write(path: nan, rows: 10, cols: 8, data: bad)

        XCTAssertEqual(traceError([six], tokens: [4, 4]),
                       "run.yaml: workload.file: \(six): expected 8 columns (model.experts), got 6")
        XCTAssertEqual(traceError([small], tokens: [4, 4, 4]),
                       "run.yaml: workload.file: \(small): expected at least 12 rows (the tokens of all 3 ranks), got 10")
        XCTAssertEqual(traceError([ok, small], tokens: [20, 12]),
                       "run.yaml: workload.file: \(small): expected at least 12 rows (the tokens of rank 1), got 10")
        XCTAssertEqual(traceError([ok, ok], tokens: [20, 12]), "no error")
        XCTAssertEqual(traceError([ok, ok, ok], tokens: [20, 12]),
                       "run.yaml: workload.file: expected 1 file or one per rank (2), got 3 files")
        XCTAssertEqual(traceError([nan], tokens: [3]), "no error", "rows past a rank's tokens are not read")
        XCTAssertEqual(traceError([nan], tokens: [2, 2]),
                       "run.yaml: workload.file: \(nan): row 3, column 5 is nan; logits must be finite")
        XCTAssertEqual(traceError([path("none.npy")], tokens: [4]),
                       "run.yaml: workload.file: \(path("none.npy")): cannot read file: No such file or directory")
    }

    func testTraceRowsPerRank() throws {
        // One file: rank r takes rows [sum of earlier ranks' tokens, + T_r).
        let E = 4
        let rows = (0..<10).map { r in (0..<E).map { Float(r * 10 + $0) } }
        let single = path("single.npy")
        try NpyWriter.write(path: single, rows: 10, cols: E, data: rows.flatMap { $0 })
        let c = Self.config(experts: E, topK: 1, workload: .trace(files: [single]), tokens: .perRank([3, 5, 2]))
        let trace = try RouterTrace(config: c, worldSize: 3)
        XCTAssertEqual(trace.logitsByRank[0], rows[0..<3].flatMap { $0 })
        XCTAssertEqual(trace.logitsByRank[1], rows[3..<8].flatMap { $0 })
        XCTAssertEqual(trace.logitsByRank[2], rows[8..<10].flatMap { $0 })
        // Only the ranks asked for are loaded.
        XCTAssertEqual(Array(try RouterTrace(config: c, worldSize: 3, ranks: [1]).logitsByRank.keys), [1])
        // Every step and layer replays the same rows.
        var router = try Router(config: c, worldSize: 3, trace: trace)
        var out = RouterOutput(config: c, rank: 1, worldSize: 3)
        try router.route(step: 0, rank: 1, layer: 0, inputs: [], into: &out)
        let first = out
        try router.route(step: 7, rank: 1, layer: 0, inputs: [], into: &out)
        XCTAssertEqual(out, first)
        XCTAssertEqual(out.logits, rows[3..<8].flatMap { $0 })
    }
}
