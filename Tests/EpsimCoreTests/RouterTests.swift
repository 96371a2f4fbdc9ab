import Foundation
import XCTest
@testable import EpsimCore

/// Router tests: this file holds the fast-vs-reference comparison and shared helpers;
/// RouterBehaviorTests.swift, RouterStatisticsTests.swift and RouterConfigTests.swift
/// extend the same class.
final class RouterTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("router-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    static func config(
        experts: Int, topK: Int, workload: Workload = .uniform, tokens: TokenCounts = .uniform(16),
        hidden: Int = 16, layers: Int = 1, score: ScoreFunction = .softmax, weights: WeightMode = .softmaxTopK,
        bias: [Float] = [], groups: Int = 1, groupsPerToken: Int = 1, noiseStd: Double = 0, seed: UInt64 = 1234
    ) -> SimConfig {
        var c = SimConfig()
        c.model.experts = experts
        c.model.topK = topK
        c.model.hidden = hidden
        c.model.layers = layers
        c.tokens = tokens
        c.workload = workload
        c.router.score = score
        c.router.weights = weights
        c.router.bias = bias
        c.router.groups = groups
        c.router.groupsPerToken = groupsPerToken
        c.router.noiseStd = noiseStd
        c.seed = seed
        return c
    }

    /// Routes one rank with a single-rank trace of `rows` (E columns each).
    func routeTrace(
        _ rows: [[Float]], topK: Int, score: ScoreFunction = .softmax, weights: WeightMode = .softmaxTopK,
        bias: [Float] = [], groups: Int = 1, groupsPerToken: Int = 1
    ) throws -> RouterOutput {
        let E = rows[0].count
        let p = path("trace-\(UUID().uuidString).npy")
        try NpyWriter.write(path: p, rows: rows.count, cols: E, data: rows.flatMap { $0 })
        let c = Self.config(experts: E, topK: topK, workload: .trace(files: [p]), tokens: .uniform(rows.count),
                            score: score, weights: weights, bias: bias, groups: groups, groupsPerToken: groupsPerToken)
        var router = try Router(config: c, worldSize: 1)
        var out = RouterOutput(config: c, rank: 0, worldSize: 1)
        try router.route(step: 0, rank: 0, layer: 0, inputs: [], into: &out)
        let want = try ReferenceRouter(config: c, worldSize: 1).route(step: 0, rank: 0, layer: 0)
        XCTAssertEqual(out.preference, want.preference)
        XCTAssertEqual(out.chosen, want.chosen)
        XCTAssertEqual(out.scores, want.scores)
        XCTAssertEqual(out.weights.map(\.bitPattern), want.weights.map(\.bitPattern))
        return out
    }

    // MARK: fast == reference

    enum Kind: CaseIterable { case gating, uniform, zipf, hot, trace }

    /// A random configuration for `kind` drawn from `g`: E in 8...64, k in {1, 2, 4, 8},
    /// group-limited routing on a third of the seeds, bias on half, noise on half (gating).
    func randomConfig(_ kind: Kind, seed: Int, score: ScoreFunction, weights: WeightMode,
                      g: inout SeededRandom) throws -> SimConfig {
        let E = [8, 12, 16, 24, 32, 48, 64][Int(g.next() % 7)]
        let k = [1, 2, 4, 8][seed % 4]
        let tokens: [Int] = [Int(g.next() % 24) + 1, Int(g.next() % 24)]
        var groups = 1, groupsPerToken = 1
        if seed % 3 == 0 {
            let divisors = (2...E).filter { E % $0 == 0 && $0 <= 16 }
            groups = divisors[Int(g.next() % UInt64(divisors.count))]
            let size = E / groups
            let least = (k + size - 1) / size
            groupsPerToken = least + Int(g.next() % UInt64(groups - least + 1))
        }
        let bias: [Float] = seed % 2 == 1 ? (0..<E).map { _ in Float(g.nextNormal()) / Float(E) } : []
        let workload: Workload
        switch kind {
        case .gating: workload = .gating
        case .uniform: workload = .uniform
        case .zipf: workload = .zipf(exponent: 0.5 + g.nextDouble() * 1.5)
        case .hot: workload = .hot(experts: Array(Set((0..<3).map { _ in Int(g.next() % UInt64(E)) })).sorted(),
                                   fraction: [0.5, 0.8, 0.95][seed % 3])
        case .trace:
            // Half the traces are rounded to multiples of 1/2, so ties are frequent.
            let coarse = seed % 2 == 0
            let rows = (0..<(tokens[0] + tokens[1])).map { _ in
                (0..<E).map { _ -> Float in
                    let v = Float(g.nextNormal() * 2)
                    return coarse ? (v * 2).rounded() / 2 : v
                }
            }
            if seed % 4 < 2 {
                let p = path("trace-\(seed).npy")
                try NpyWriter.write(path: p, rows: rows.count, cols: E, data: rows.flatMap { $0 })
                workload = .trace(files: [p])
            } else {
                let p0 = path("trace-\(seed)-r0.npy"), p1 = path("trace-\(seed)-r1.npy")
                try NpyWriter.write(path: p0, rows: tokens[0], cols: E, data: rows[..<tokens[0]].flatMap { $0 })
                try NpyWriter.write(path: p1, rows: tokens[1] + 3, cols: E,
                                    data: (rows[tokens[0]...] + [[Float]](repeating: [Float](repeating: 9, count: E), count: 3)).flatMap { $0 })
                workload = .trace(files: [p0, p1])
            }
        }
        return Self.config(experts: E, topK: k, workload: workload, tokens: .perRank(tokens), hidden: 8 + seed % 9,
                           layers: 2, score: score, weights: weights, bias: bias, groups: groups,
                           groupsPerToken: groupsPerToken, noiseStd: kind == .gating && seed % 2 == 0 ? 0.5 : 0,
                           seed: UInt64(seed) &* 7919)
    }

    func testFastRouterEqualsReferenceOverManySeeds() throws {
        var compared = 0, withTies = 0
        for (ki, kind) in Kind.allCases.enumerated() {
            for (si, score) in ScoreFunction.allCases.enumerated() {
                for (wi, mode) in WeightMode.allCases.enumerated() {
                    for seed in 0..<50 {
                        var g = SeededRandom.stream(seed: 99, UInt64(ki), UInt64(si), UInt64(wi), UInt64(seed))
                        let c = try randomConfig(kind, seed: seed, score: score, weights: mode, g: &g)
                        var fast = try Router(config: c, worldSize: 2)
                        // The same router writing only the chosen experts' preference
                        // (a layer that drops): everything else must be bitwise equal.
                        var selecting = fast
                        selecting.fullPreference = false
                        let reference = try ReferenceRouter(config: c, worldSize: 2)
                        for rank in 0..<2 {
                            let T = c.tokens(rank: rank, size: 2), E = c.model.experts, k = c.model.topK
                            var out = RouterOutput(config: c, rank: rank, worldSize: 2)
                            var selected = RouterOutput(config: c, rank: rank, worldSize: 2)
                            for (step, layer) in [(seed, seed % 2), (seed + 1, 1 - seed % 2)] {
                                let x = TokenInputs.make(seed: c.seed, step: step, rank: rank, tokens: T, hidden: c.model.hidden)
                                try fast.route(step: step, rank: rank, layer: layer, inputs: x, into: &out)
                                try selecting.route(step: step, rank: rank, layer: layer, inputs: x, into: &selected)
                                let want = try reference.route(step: step, rank: rank, layer: layer, inputs: x)
                                let what = "\(kind) \(score) \(mode) seed \(seed) rank \(rank) step \(step): \(c.router) E=\(c.model.experts) k=\(c.model.topK)"
                                guard selected.chosen == want.chosen,
                                      selected.weights.map(\.bitPattern) == want.weights.map(\.bitPattern),
                                      selected.scores.map(\.bitPattern) == want.scores.map(\.bitPattern),
                                      (0..<T).allSatisfy({ t in selected.preference[(t * E)..<(t * E + k)] == want.preference[(t * E)..<(t * E + k)] })
                                else { return XCTFail("selection without the full order differs: \(what)") }
                                guard out.preference == want.preference, out.chosen == want.chosen,
                                      out.logits.map(\.bitPattern) == want.logits.map(\.bitPattern),
                                      out.scores.map(\.bitPattern) == want.scores.map(\.bitPattern)
                                else { return XCTFail("decisions differ: \(what)") }
                                // Bitwise: capacity's score priority orders by these weights.
                                guard out.weights.map(\.bitPattern) == want.weights.map(\.bitPattern) else {
                                    let err = zip(out.weights, want.weights).map { abs($0 - $1) }.max() ?? 0
                                    return XCTFail("weights differ by \(err): \(what)")
                                }
                                compared += T
                                for t in 0..<T {
                                    let s = want.scores[(t * c.model.experts)..<((t + 1) * c.model.experts)]
                                    if Set(s).count < s.count { withTies += 1 }
                                }
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(compared, 50_000)
        XCTAssertGreaterThan(withTies, 1000, "the comparison should include many tied scores")
    }

    func testRoutingIsRepeatableAndStreamsAreIndependentOfTokenCount() throws {
        for workload in [Workload.uniform, .zipf(exponent: 1), .gating] {
            let small = Self.config(experts: 16, topK: 2, workload: workload, tokens: .uniform(5), noiseStd: 0.3)
            let large = Self.config(experts: 16, topK: 2, workload: workload, tokens: .uniform(40), noiseStd: 0.3)
            var a = try Router(config: small, worldSize: 1), b = try Router(config: large, worldSize: 1)
            var outA = RouterOutput(config: small, rank: 0, worldSize: 1)
            var outB = RouterOutput(config: large, rank: 0, worldSize: 1)
            let x = TokenInputs.make(seed: 1, step: 3, rank: 0, tokens: 40, hidden: 16)
            try a.route(step: 3, rank: 0, layer: 0, inputs: Array(x[..<(5 * 16)]), into: &outA)
            try b.route(step: 3, rank: 0, layer: 0, inputs: x, into: &outB)
            // Synthetic logits and noise are per-token streams: the first 5 tokens agree
            // (gating only up to the sgemm's rounding, so compare decisions there).
            XCTAssertEqual(outA.preference, Array(outB.preference[..<(5 * 16)]), "\(workload)")
            if workload != .gating { XCTAssertEqual(outA.logits, Array(outB.logits[..<(5 * 16)])) }
            let first = outA
            try a.route(step: 4, rank: 0, layer: 0, inputs: Array(x[..<(5 * 16)]), into: &outA)
            XCTAssertNotEqual(outA.logits, first.logits, "another step draws new noise/logits")
            try a.route(step: 3, rank: 0, layer: 0, inputs: Array(x[..<(5 * 16)]), into: &outA)
            XCTAssertEqual(outA, first, "routing the same step again reproduces it bitwise")
        }
    }
}

/// `Router.fullPreference` false with DeepSpeed's float32 first choice, which may take
/// an expert from past the k best logits (scores that tie once rounded to float32).
final class RouterSelectionTests: XCTestCase {
    func testSelectionKeepsDeepSpeedsFirstChoicePastTheChosenExperts() throws {
        let E = 32, k = 2
        // Token 0: logits 30 (expert 9), 28 (expert 7), 25 (expert 1), the rest below 0:
        // sigmoid rounds the three to 1.0, so the first choice is expert 1, third by logit.
        // Token 1: the same with softmax-sized gaps; token 2: no tie.
        var rows = [Float](repeating: -4, count: 3 * E)
        for (t, pairs) in [[(9, 30), (7, 28), (1, 25)], [(9, 3), (7, 3), (1, 3)], [(4, 2), (6, 1), (3, 0.5)]].enumerated() {
            for (e, v) in pairs { rows[t * E + e] = Float(v) }
        }
        var firstOfToken: [ScoreFunction: [Int32]] = [:]
        for score in ScoreFunction.allCases {
            var c = RouterTests.config(experts: E, topK: k, workload: .trace(files: ["memory"]), tokens: .uniform(3),
                                       score: score, weights: .raw)
            c.router.firstChoice = .float32Score
            let trace = RouterTrace(experts: E, logitsByRank: [0: rows])
            var full = try Router(config: c, worldSize: 1, trace: trace)
            var selecting = full
            selecting.fullPreference = false
            var a = RouterOutput(config: c, rank: 0, worldSize: 1), b = a
            try full.route(step: 0, rank: 0, layer: 0, inputs: [], into: &a)
            try selecting.route(step: 0, rank: 0, layer: 0, inputs: [], into: &b)
            XCTAssertEqual(a.chosen, b.chosen, "\(score)")
            XCTAssertEqual(a.weights.map(\.bitPattern), b.weights.map(\.bitPattern), "\(score)")
            firstOfToken[score] = (0..<3).map { a.chosen[$0 * k] }
        }
        // The case the test is for happened: sigmoid's first choice came from third place.
        XCTAssertEqual(firstOfToken[.sigmoid]?[0], 1)
        XCTAssertEqual(firstOfToken[.softmax]?[1], 1, "equal logits: the lowest index")
        XCTAssertEqual(firstOfToken[.softmax]?[2], 4)
    }
}
