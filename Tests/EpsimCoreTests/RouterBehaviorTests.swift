import Foundation
import XCTest
@testable import EpsimCore

/// Hand-built cases: ties, bias, group-limited routing, weight modes, the gate product.
extension RouterTests {
    func testTiesGoToTheLowerExpertIndex() throws {
        for score in ScoreFunction.allCases {
            let out = try routeTrace([[1, 3, 3, 1, 2], [0, 0, 0, 0, 0], [-1, 5, -1, 5, -1]], topK: 2, score: score)
            XCTAssertEqual(Array(out.preference(token: 0)), [1, 2, 4, 0, 3], "\(score)")
            XCTAssertEqual(Array(out.preference(token: 1)), [0, 1, 2, 3, 4], "\(score)")
            XCTAssertEqual(Array(out.preference(token: 2)), [1, 3, 0, 2, 4], "\(score)")
            XCTAssertEqual(out.chosen, [1, 2, 0, 1, 1, 3])
        }
    }

    func testBiasChangesChoiceButNotWeights() throws {
        let rows: [[Float]] = [[2, 1, 0, 0]]
        let bias: [Float] = [0, 0.5, 0, 0]
        for mode in WeightMode.allCases {
            let plain = try routeTrace(rows, topK: 1, weights: mode)
            let biased = try routeTrace(rows, topK: 1, weights: mode, bias: bias)
            XCTAssertEqual(plain.chosen, [0])
            XCTAssertEqual(biased.chosen, [1], "score(1) + 0.5 beats score(0)")
            XCTAssertEqual(biased.scores, plain.scores, "the bias never enters the scores")
            switch mode {
            case .raw: XCTAssertEqual(biased.weights, [plain.scores[1]], "raw weight is the unbiased score")
            case .softmaxTopK, .normalized: XCTAssertEqual(biased.weights, [1])
            }
        }
        // k = 2: the bias reorders the slots; each expert keeps its weight.
        for mode in WeightMode.allCases {
            let plain = try routeTrace(rows, topK: 2, weights: mode)
            let biased = try routeTrace(rows, topK: 2, weights: mode, bias: [0, 1, 0, 0])
            XCTAssertEqual(plain.chosen, [0, 1])
            XCTAssertEqual(biased.chosen, [1, 0])
            XCTAssertEqual(biased.weights, [plain.weights[1], plain.weights[0]], "\(mode)")
        }
    }

    func testWeightModes() throws {
        let rows: [[Float]] = [[0.5, -1, 2, 0.25, 3, -2]]
        for score in ScoreFunction.allCases {
            let raw = try routeTrace(rows, topK: 3, score: score, weights: .raw)
            XCTAssertEqual(raw.chosen, [4, 2, 0])
            let s = raw.chosen.map { raw.scores[Int($0)] }
            XCTAssertEqual(raw.weights, s)
            let expected = score == .softmax
                ? rows[0].map { exp(Double($0)) / rows[0].reduce(0) { $0 + exp(Double($1)) } }
                : rows[0].map { 1 / (1 + exp(-Double($0))) }
            for (w, e) in zip(raw.weights, [expected[4], expected[2], expected[0]]) { XCTAssertEqual(Double(w), e, accuracy: 1e-6) }

            let normalized = try routeTrace(rows, topK: 3, score: score, weights: .normalized)
            let sum = s.reduce(0, +)
            for (w, p) in zip(normalized.weights, s) { XCTAssertEqual(w, p / sum, accuracy: 1e-6) }

            let topk = try routeTrace(rows, topK: 3, score: score, weights: .softmaxTopK)
            let z = [3.0, 2.0, 0.5].map { exp($0) }
            for (w, e) in zip(topk.weights, z) { XCTAssertEqual(Double(w), e / z.reduce(0, +), accuracy: 1e-6) }
        }
    }

    func testWeightsSumToOneForSoftmaxTopKAndNormalized() throws {
        for score in ScoreFunction.allCases {
            for mode in [WeightMode.softmaxTopK, .normalized] {
                for (E, k) in [(8, 1), (16, 4), (64, 8)] {
                    let c = Self.config(experts: E, topK: k, workload: .zipf(exponent: 1.1), tokens: .uniform(500),
                                        score: score, weights: mode)
                    var router = try Router(config: c, worldSize: 1)
                    var out = RouterOutput(config: c, rank: 0, worldSize: 1)
                    try router.route(step: 0, rank: 0, layer: 0, inputs: [], into: &out)
                    for t in 0..<500 {
                        let sum = out.weights(token: t).reduce(0, +)
                        XCTAssertEqual(sum, 1, accuracy: 1e-6, "\(score) \(mode) E=\(E) k=\(k)")
                        XCTAssert(out.weights(token: t).allSatisfy { $0 > 0 && $0 <= 1 })
                    }
                }
            }
        }
    }

    func testGroupLimitedRoutingKeepsTheBestGroupsByTopTwoSum() throws {
        // Groups of 2: {0,1} {2,3} {4,5} {6,7}. Expert 0 is the best expert, but its group's
        // top-2 sum (σ(5) + σ(-5) = 1) loses to groups 1 (2σ(3)) and 2 (2σ(2.9)).
        let rows: [[Float]] = [[5, -5, 3, 3, 2.9, 2.9, 0, 0]]
        let out = try routeTrace(rows, topK: 2, score: .sigmoid, weights: .raw, groups: 4, groupsPerToken: 2)
        XCTAssertEqual(out.chosen, [2, 3])
        XCTAssertEqual(Array(out.preference(token: 0)), [2, 3, 0, 4, 5, 6, 7, 1],
                       "the chosen first, then every other expert by score")
        let ungrouped = try routeTrace(rows, topK: 2, score: .sigmoid, weights: .raw)
        XCTAssertEqual(ungrouped.chosen, [0, 2])
        // k larger than one group: the top 3 inside the two kept groups.
        let three = try routeTrace(rows, topK: 3, score: .sigmoid, weights: .raw, groups: 4, groupsPerToken: 2)
        XCTAssertEqual(three.chosen, [2, 3, 4])
        // Tied group scores: the lower group wins.
        let tied = try routeTrace([[1, 1, 1, 1], [0, 2, 2, 0]], topK: 1, groups: 2, groupsPerToken: 1)
        XCTAssertEqual(tied.chosen, [0, 1])
        XCTAssertEqual(Array(tied.preference(token: 1)), [1, 2, 0, 3])
    }

    func testGroupScoresIncludeTheBias() throws {
        // Groups {0,1} {2,3}, sigmoid: 2σ(1) = 1.46 beats σ(1.5) + σ(0) = 1.32, so group 0
        // is kept although expert 2 is the best. A bias of 0.2 on expert 3 lifts group 1
        // to 1.52: group selection ranks by score + bias, as the choice does.
        let rows: [[Float]] = [[1, 1, 1.5, 0]]
        let plain = try routeTrace(rows, topK: 1, score: .sigmoid, weights: .raw, groups: 2, groupsPerToken: 1)
        XCTAssertEqual(plain.chosen, [0])
        let biased = try routeTrace(rows, topK: 1, score: .sigmoid, weights: .raw, bias: [0, 0, 0, 0.2],
                                    groups: 2, groupsPerToken: 1)
        XCTAssertEqual(biased.chosen, [2])
        XCTAssertEqual(biased.weights, [biased.scores[2]])
    }

    func testGateProductMatchesADoubleDotProduct() throws {
        let c = Self.config(experts: 24, topK: 2, workload: .gating, tokens: .uniform(50), hidden: 96, layers: 2)
        var router = try Router(config: c, worldSize: 1)
        var out = RouterOutput(config: c, rank: 0, worldSize: 1)
        let x = TokenInputs.make(seed: c.seed, step: 2, rank: 0, tokens: 50, hidden: 96)
        var sumSq = 0.0
        for layer in 0..<2 {
            try router.route(step: 2, rank: 0, layer: layer, inputs: x, into: &out)
            let wg = Router.gateMatrix(seed: c.seed, layer: layer, hidden: 96, experts: 24)
            for t in 0..<50 {
                for e in 0..<24 {
                    let dot = (0..<96).reduce(0.0) { $0 + Double(x[t * 96 + $1]) * Double(wg[$1 * 24 + e]) }
                    XCTAssertEqual(Double(out.logits[t * 24 + e]), dot, accuracy: 1e-5 * (1 + abs(dot)))
                    sumSq += dot * dot
                }
            }
        }
        XCTAssertEqual(sumSq / Double(2 * 50 * 24), 1, accuracy: 0.15, "logits are O(1): N(0, 1) · N(0, 1/H)")
        XCTAssertNotEqual(Router.gateMatrix(seed: 1, layer: 0, hidden: 4, experts: 4),
                          Router.gateMatrix(seed: 1, layer: 1, hidden: 4, experts: 4))
    }

    func testSgemmWithTransposes() {
        let m = 3, n = 5, k = 4
        var g = SeededRandom(seed: 8)
        let a = (0..<(m * k)).map { _ in Float(g.nextNormal()) }
        let b = (0..<(k * n)).map { _ in Float(g.nextNormal()) }
        let c0 = (0..<(m * n)).map { _ in Float(g.nextNormal()) }
        func expected(_ i: Int, _ j: Int) -> Double {
            2 * (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * n + j]) } + 0.5 * Double(c0[i * n + j])
        }
        let aT = (0..<(k * m)).map { a[($0 % m) * k + $0 / m] }  // [k × m]
        let bT = (0..<(n * k)).map { b[($0 % k) * n + $0 / k] }  // [n × k]
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            var c = c0
            (ta ? aT : a).withUnsafeBufferPointer { ap in
                (tb ? bT : b).withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer {
                        BLAS.sgemm(m: m, n: n, k: k, alpha: 2, ap, transposeA: ta, bp, transposeB: tb, beta: 0.5, $0)
                    }
                }
            }
            for i in 0..<m { for j in 0..<n { XCTAssertEqual(Double(c[i * n + j]), expected(i, j), accuracy: 1e-5) } }
        }
    }
}
