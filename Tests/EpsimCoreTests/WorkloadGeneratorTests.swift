import Foundation
import XCTest
@testable import EpsimCore

/// hot_rank, rotating_hotspot and lognormal: measured first-choice shares on seeded runs
/// within 4 standard errors of the stated p, the rotation period, the lognormal weights'
/// moments, determinism, and the reference router agreeing with the fast one.
final class WorkloadGeneratorTests: XCTestCase {
    /// First-choice counts [E] of `rank` at `step`, T tokens, P ranks.
    func firstChoices(_ w: Workload, experts E: Int, ranks P: Int, rank: Int, step: Int, tokens T: Int = 8000,
                      seed: UInt64 = 77) throws -> [Int] {
        let c = RouterTests.config(experts: E, topK: 2, workload: w, tokens: .uniform(T), seed: seed)
        var router = try Router(config: c, worldSize: P)
        var out = RouterOutput(config: c, rank: rank, worldSize: P)
        try router.route(step: step, rank: rank, layer: 0, inputs: [], into: &out)
        var first = [Int](repeating: 0, count: E)
        for t in 0..<T { first[Int(out.chosen[2 * t])] += 1 }
        return first
    }

    func assertShare(_ count: Int, of n: Int, is p: Double, _ what: String, line: UInt = #line) {
        let f = Double(count) / Double(n), se = (p * (1 - p) / Double(n)).squareRoot()
        XCTAssertEqual(f, p, accuracy: 4 * se, "\(what): \(f) vs \(p)", line: line)
    }

    func testHotRankSendsTheFractionToTheHotRanksBlock() throws {
        // E 16 on P 4: rank 2's block is experts 8..<12. Sources 0 and 3 skew; rank 1 does not.
        let w = Workload.hotRank(rank: 2, fraction: 0.6, sources: [0, 3])
        for source in [0, 3] {
            let first = try firstChoices(w, experts: 16, ranks: 4, rank: source, step: 1)
            assertShare(first[8..<12].reduce(0, +), of: 8000, is: 0.6, "rank \(source) to block 2")
            assertShare(first[8], of: 8000, is: 0.15, "rank \(source) to expert 8")
            assertShare(first[0], of: 8000, is: 0.4 / 12, "rank \(source) to expert 0")
        }
        let other = try firstChoices(w, experts: 16, ranks: 4, rank: 1, step: 1)
        assertShare(other[8..<12].reduce(0, +), of: 8000, is: 0.25, "rank 1 routes uniformly")
        // Empty sources: every rank skews.
        let all = try firstChoices(.hotRank(rank: 0, fraction: 0.5, sources: []), experts: 16, ranks: 4, rank: 1, step: 0)
        assertShare(all[0..<4].reduce(0, +), of: 8000, is: 0.5, "every rank a source")
    }

    func testRotatingHotspotMovesEveryPeriod() throws {
        // 2 hot experts of 8 with 0.7, period 3: steps 0-2 hot {0, 1}, 3-5 {2, 3}, ..., 12-14 {0, 1} again.
        let w = Workload.rotatingHotspot(count: 2, fraction: 0.7, period: 3)
        for (step, hot) in [(0, [0, 1]), (2, [0, 1]), (3, [2, 3]), (5, [2, 3]), (9, [6, 7]), (12, [0, 1])] {
            let first = try firstChoices(w, experts: 8, ranks: 2, rank: 1, step: step)
            assertShare(hot.reduce(0) { $0 + first[$1] }, of: 8000, is: 0.7, "step \(step) hot \(hot)")
            let cold = (0..<8).first { !hot.contains($0) }!
            assertShare(first[cold], of: 8000, is: 0.3 / 6, "step \(step) cold \(cold)")
        }
        // A window that wraps: 3 of 8 moving by 3 every 2 steps: step 4 (third window) starts at 6: {6, 7, 0}.
        let wrap = try firstChoices(.rotatingHotspot(count: 3, fraction: 0.9, period: 2), experts: 8, ranks: 1, rank: 0, step: 4)
        assertShare(wrap[6] + wrap[7] + wrap[0], of: 8000, is: 0.9, "wrapped window")
    }

    func testLognormalSharesFollowTheSeededWeights() throws {
        let P = 4, E = 16, sigma = 1.0
        let w = RouterSpec.lognormalWeights(sigma: sigma, ranks: P, seed: 77)
        let total = w.reduce(0, +)
        let first = try firstChoices(.lognormal(sigma: sigma), experts: E, ranks: P, rank: 3, step: 5)
        for r in 0..<P {
            assertShare(first[(r * 4)..<(r * 4 + 4)].reduce(0, +), of: 8000, is: w[r] / total, "block of rank \(r)")
        }
        // The same weights whatever the rank routing, the step or the layer: a function of the seed.
        XCTAssertEqual(w, RouterSpec.lognormalWeights(sigma: sigma, ranks: P, seed: 77))
        XCTAssertNotEqual(w, RouterSpec.lognormalWeights(sigma: sigma, ranks: P, seed: 78))
        // sigma 0: every rank the same.
        XCTAssertEqual(Set(RouterSpec.lognormalWeights(sigma: 0, ranks: P, seed: 77)), [1])
    }

    /// log w_r = σ Z_r: over many ranks, mean 0 and standard deviation σ (within 4
    /// standard errors), and max/mean of the shares near exp(σ√(2 ln P) − σ²/2).
    func testLognormalMoments() {
        let P = 4096, sigma = 0.5
        let logs = RouterSpec.lognormalWeights(sigma: sigma, ranks: P, seed: 5).map { log($0) }
        let mean = logs.reduce(0, +) / Double(P)
        let sd = (logs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(P - 1)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 4 * sigma / Double(P).squareRoot())
        XCTAssertEqual(sd, sigma, accuracy: 4 * sigma / (2 * Double(P)).squareRoot())
        let w = logs.map { exp($0) }
        let ratio = Double(P) * w.max()! / w.reduce(0, +)
        let approx = exp(sigma * (2 * log(Double(P))).squareRoot() - sigma * sigma / 2)
        XCTAssertEqual(ratio, approx, accuracy: 0.25 * approx, "max/mean \(ratio) vs ≈ \(approx)")
    }

    func testDeterministicAndReferenceAgrees() throws {
        for w in [Workload.hotRank(rank: 1, fraction: 0.8, sources: [2]), .rotatingHotspot(count: 3, fraction: 0.5, period: 2),
                  .lognormal(sigma: 1.5)] {
            let c = RouterTests.config(experts: 12, topK: 2, workload: w, tokens: .uniform(64), seed: 9)
            for (rank, step) in [(0, 0), (2, 3), (1, 7)] {
                var a = try Router(config: c, worldSize: 3), b = try Router(config: c, worldSize: 3)
                var outA = RouterOutput(config: c, rank: rank, worldSize: 3), outB = outA
                try a.route(step: step, rank: rank, layer: 0, inputs: [], into: &outA)
                try b.route(step: step, rank: rank, layer: 0, inputs: [], into: &outB)
                XCTAssertEqual(outA.chosen, outB.chosen, "\(w) deterministic")
                let reference = try ReferenceRouter(config: c, worldSize: 3)
                XCTAssertEqual(try reference.logits(step: step, rank: rank, layer: 0, inputs: []), outA.logits, "\(w) rank \(rank) step \(step)")
            }
        }
    }

    func testConfigKeysAndErrors() throws {
        let c = try parse("workload: {kind: rotating_hotspot, count: 2, fraction: 0.7, period: 5}")
        XCTAssertEqual(c.workload, .rotatingHotspot(count: 2, fraction: 0.7, period: 5))
        XCTAssertEqual(try parse("workload: {kind: hot_rank, rank: 1, fraction: 0.5}").workload,
                       .hotRank(rank: 1, fraction: 0.5, sources: []))
        XCTAssertEqual(try parse("workload: {kind: lognormal, sigma: 0.8}").workload, .lognormal(sigma: 0.8))
        XCTAssertEqual(configErrorMessage("workload: {kind: lognormal}"), "t.yaml: workload.sigma: required for workload lognormal")
        XCTAssertEqual(configErrorMessage("workload: {kind: lognormal, sigma: 11}"),
                       "t.yaml: workload.sigma: expected a number in [0, 10], got 11")
        XCTAssertEqual(configErrorMessage("workload: {kind: rotating_hotspot, fraction: 0.5, period: 0}"),
                       "t.yaml: workload.period: expected an integer in [1, 2147483647], got 0")
        XCTAssertEqual(configErrorMessage("model: {experts: 8}\nworkload: {kind: rotating_hotspot, count: 8, fraction: 0.5, period: 1}"),
                       "t.yaml: workload.count: 8 hot experts of model.experts (8); at least one must stay cold")
        XCTAssertEqual(configErrorMessage("workload: {kind: hot_rank, rank: 1, fraction: 1}"),
                       "t.yaml: workload.fraction: expected a number in (0, 1), got 1")
        XCTAssertEqual(validationMessage("workload: {kind: hot_rank, rank: 4, fraction: 0.5}", worldSize: 4),
                       "t.yaml: workload.rank: rank 4 is out of range 0..<4 (the world size)")
        XCTAssertEqual(validationMessage("workload: {kind: hot_rank, rank: 0, fraction: 0.5, sources: [0, 9]}", worldSize: 4),
                       "t.yaml: workload.sources: rank 9 is out of range 0..<4 (the world size)")
        XCTAssertEqual(validationMessage("workload: {kind: hot_rank, rank: 0, fraction: 0.5}", worldSize: 1),
                       "t.yaml: workload.rank: rank 0's block holds all 8 experts on 1 rank; hot_rank needs 2 ranks or more")
        XCTAssertEqual(validationMessage("model: {experts: 2, top_k: 1}\nworkload: {kind: hot_rank, rank: 3, fraction: 0.5}", worldSize: 4),
                       "t.yaml: workload.rank: rank 3's contiguous block is empty (2 experts on 4 ranks); pick a rank below 2")
    }
}
