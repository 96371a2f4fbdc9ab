import Foundation
import XCTest
@testable import EpsimCore

/// Synthetic workloads follow their distributions. Frequencies over n tokens are
/// checked within 4 standard errors, sqrt(p(1-p)/n), and within 3% of p.
extension RouterTests {
    /// First and second choices of `tokens` tokens (spread over 4 steps) of `workload`.
    func choices(_ workload: Workload, experts E: Int, tokens: Int = 20_000) throws -> (first: [Int], second: [Int]) {
        let perStep = tokens / 4
        let c = Self.config(experts: E, topK: 2, workload: workload, tokens: .uniform(perStep), seed: 77)
        var router = try Router(config: c, worldSize: 1)
        var out = RouterOutput(config: c, rank: 0, worldSize: 1)
        var first = [Int](repeating: 0, count: E), second = [Int](repeating: 0, count: E)
        for step in 0..<4 {
            try router.route(step: step, rank: 0, layer: 0, inputs: [], into: &out)
            for t in 0..<perStep {
                first[Int(out.chosen[2 * t])] += 1
                second[Int(out.chosen[2 * t + 1])] += 1
            }
        }
        return (first, second)
    }

    func assertFrequency(_ count: Int, of n: Int, is p: Double, relative: Double? = 0.03,
                         _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let f = Double(count) / Double(n)
        let se = (p * (1 - p) / Double(n)).squareRoot()
        XCTAssertEqual(f, p, accuracy: 4 * se, "\(what): \(f) vs p = \(p)", file: file, line: line)
        if let relative { XCTAssertEqual(f, p, accuracy: relative * p, "\(what): \(f) vs p = \(p)", file: file, line: line) }
    }

    func testZipfFirstChoicesFollowP() throws {
        let E = 16, s = 1.0, n = 20_000
        let w = (0..<E).map { pow(Double($0 + 1), -s) }
        let p = w.map { $0 / w.reduce(0, +) }
        let (first, second) = try choices(.zipf(exponent: s), experts: E, tokens: n)
        for e in 0..<3 { assertFrequency(first[e], of: n, is: p[e], "zipf first choice \(e)") }
        for e in 3..<E { assertFrequency(first[e], of: n, is: p[e], relative: nil, "zipf first choice \(e)") }
        // Sampling without replacement: P(second = j) = Σ_{i≠j} p_i p_j / (1 - p_i).
        for j in 0..<3 {
            let q = (0..<E).filter { $0 != j }.reduce(0.0) { $0 + p[$1] * p[j] / (1 - p[$1]) }
            assertFrequency(second[j], of: n, is: q, relative: nil, "zipf second choice \(j)")
        }
    }

    func testUniformFirstChoicesAreUniform() throws {
        let E = 8, n = 20_000
        let (first, second) = try choices(.uniform, experts: E, tokens: n)
        for e in 0..<E {
            assertFrequency(first[e], of: n, is: 1 / Double(E), relative: nil, "uniform first choice \(e)")
            assertFrequency(second[e], of: n, is: 1 / Double(E), relative: nil, "uniform second choice \(e)")
        }
    }

    func testHotExpertsReceiveTheirFraction() throws {
        let E = 16, n = 20_000, hot = [3, 11, 12]
        let (first, _) = try choices(.hot(experts: hot, fraction: 0.7), experts: E, tokens: n)
        assertFrequency(hot.reduce(0) { $0 + first[$1] }, of: n, is: 0.7, "hot share")
        for e in hot { assertFrequency(first[e], of: n, is: 0.7 / 3, relative: 0.05, "hot expert \(e)") }
        for e in 0..<E where !hot.contains(e) {
            assertFrequency(first[e], of: n, is: 0.3 / 13, relative: nil, "cold expert \(e)")
        }
    }

    /// Experts whose probability is below e^-50 (zipf with s = 100: every expert but 0)
    /// are floored there: never a first choice while a likelier one is left, yet they
    /// still appear, in random order, further down every preference list. (The hot
    /// fraction is below 1, so hot workloads no longer give probability 0.)
    func testExpertsAtTheFloorAreOrderedAtRandom() throws {
        let c = Self.config(experts: 8, topK: 3, workload: .zipf(exponent: 100), tokens: .uniform(3000))
        var router = try Router(config: c, worldSize: 1)
        var out = RouterOutput(config: c, rank: 0, worldSize: 1)
        try router.route(step: 0, rank: 0, layer: 0, inputs: [], into: &out)
        var slots = [[Int]](repeating: [Int](repeating: 0, count: 8), count: 3)
        for t in 0..<3000 { for s in 0..<3 { slots[s][Int(out.chosen[3 * t + s])] += 1 } }
        XCTAssertEqual(slots[0][0], 3000)
        for s in 1..<3 {
            for e in 1..<8 { assertFrequency(slots[s][e], of: 3000, is: 1 / 7, relative: nil, "floored slot \(s), expert \(e)") }
        }
    }
}
