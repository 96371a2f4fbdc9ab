import XCTest
@testable import EpsimCore

final class CapacityTests: XCTestCase {
    private func cap(_ factor: Double?, min: Int = 0) -> CapacityConfig {
        var c = CapacityConfig()
        c.factor = factor
        c.minCapacity = min
        return c
    }

    func testCapacityFormulaByHand() {
        // 10 tokens, top-1, 4 experts, cf 1: 2.5 rounds up to 3.
        XCTAssertEqual(Capacity.local(cap(1.0), tokens: 10, topK: 1, experts: 4), 3)
        // Exact multiples do not round up: 512*2/8*1.25 = 160, 8*2/8*1.0 = 2.
        XCTAssertEqual(Capacity.local(cap(1.25), tokens: 512, topK: 2, experts: 8), 160)
        XCTAssertEqual(Capacity.local(cap(1.0), tokens: 8, topK: 2, experts: 8), 2)
        // Double rounding as Megatron-Core computes it: 500/10*1.1 = 55.00000000000001 -> 56.
        XCTAssertEqual(Capacity.local(cap(1.1), tokens: 500, topK: 1, experts: 10), 56)
        // min_capacity wins over a smaller formula value, including zero tokens.
        XCTAssertEqual(Capacity.local(cap(1.0, min: 4), tokens: 4, topK: 1, experts: 8), 4)
        XCTAssertEqual(Capacity.local(cap(2.0, min: 0), tokens: 0, topK: 2, experts: 8), 0)
        XCTAssertNil(Capacity.local(cap(nil), tokens: 100, topK: 2, experts: 8))
        XCTAssertEqual(Capacity.global(cap(1.0), totalTokens: 40, topK: 1, experts: 4), 10)
    }

    private func config(experts: Int, topK: Int, factor: Double?, priority: Priority = .position,
                        policy: OverflowPolicy = .drop) -> SimConfig {
        var c = SimConfig()
        c.model.experts = experts
        c.model.topK = topK
        c.capacity.factor = factor
        c.capacity.priority = priority
        c.overflow.policy = policy
        return c
    }

    /// 4 experts, capacity 3, 10 top-1 tokens with first-choice loads 7/2/1/0; every
    /// token's next preference is expert 3.
    private func publishedExample() -> RankChoices {
        let firsts = [0, 0, 0, 0, 0, 0, 0, 1, 1, 2]
        return choices(firsts.map { f in
            (pref: [f] + [3, 1, 2, 0].filter { $0 != f }, weights: [1])
        })
    }

    func testPublishedExampleDrop() throws {
        let cfg = config(experts: 4, topK: 1, factor: 1.0)
        let layout = try ExpertLayout(cfg.placement, experts: 4, ranks: 1)
        let out = fastDecisions(cfg, layout, rank: 0, publishedExample())
        XCTAssertEqual(out.capacity, 3)
        XCTAssertEqual(out.expertLoad, [3, 2, 1, 0])
        XCTAssertEqual([out.accepted, out.rerouted, out.dropped], [6, 0, 4])
        // Position priority keeps the earliest tokens of expert 0.
        XCTAssertEqual(out.outcome.prefix(4).map(\.description), ["accepted", "accepted", "accepted", "dropped"])
    }

    func testPublishedExampleReroute() throws {
        var cfg = config(experts: 4, topK: 1, factor: 1.0, policy: .reroute)
        let layout = try ExpertLayout(cfg.placement, experts: 4, ranks: 1)
        // Expert 3 has room for 3 of the 4 overflowing tokens; the fourth walks on to
        // its next preference, expert 1, which has one place left.
        var out = fastDecisions(cfg, layout, rank: 0, publishedExample())
        XCTAssertEqual(out.expertLoad, [3, 3, 1, 3])
        XCTAssertEqual([out.accepted, out.rerouted, out.dropped], [6, 4, 0])
        XCTAssertEqual(out.finalExpert.map(Int.init), [0, 0, 0, 3, 3, 3, 1, 1, 1, 2])
        // Allowed only one candidate each, the fourth is dropped instead.
        cfg.overflow.maxReroutes = 1
        out = fastDecisions(cfg, layout, rank: 0, publishedExample())
        XCTAssertEqual(out.expertLoad, [3, 2, 1, 3])
        XCTAssertEqual([out.accepted, out.rerouted, out.dropped], [6, 3, 1])
    }

    /// Three tokens, top-2 over 3 experts, capacity 1: each priority keeps a different set.
    private let priorityCase = choices([
        (pref: [1, 0, 2], weights: [0.6, 0.4]),
        (pref: [0, 1, 2], weights: [0.9, 0.1]),
        (pref: [0, 2, 1], weights: [0.95, 0.05]),
    ])

    private func kept(_ priority: Priority) throws -> [Int] {
        let cfg = config(experts: 3, topK: 2, factor: 0.5, priority: priority)
        let layout = try ExpertLayout(cfg.placement, experts: 3, ranks: 1)
        let out = fastDecisions(cfg, layout, rank: 0, priorityCase)
        XCTAssertEqual(out.capacity, 1)
        return out.outcome.enumerated().filter { $0.element == .accepted }.map(\.offset)
    }

    func testPriorityPositionByHand() throws {
        // Per expert, earlier tokens first whatever the slot: token 0 takes both 1 and 0.
        XCTAssertEqual(try kept(.position), [0, 1, 5])
    }

    func testPrioritySlotPositionByHand() throws {
        // All first choices first: t0->1, t1->0; then seconds: only t2->2 finds room.
        XCTAssertEqual(try kept(.slotPosition), [0, 2, 5])
    }

    func testPriorityScoreByHand() throws {
        // By weight: t2->0 (0.95), t1->0 loses (0.9), t0->1 (0.6), ..., t2->2 (0.05).
        XCTAssertEqual(try kept(.score), [0, 4, 5])
    }

    func testScoreTiesGoToTheEarlierToken() throws {
        let cfg = config(experts: 2, topK: 1, factor: 0.5, priority: .score)
        let layout = try ExpertLayout(cfg.placement, experts: 2, ranks: 1)
        let c = choices([(pref: [1, 0], weights: [0.5]), (pref: [0, 1], weights: [0.5]),
                         (pref: [0, 1], weights: [0.5]), (pref: [0, 1], weights: [0.7])])
        let out = fastDecisions(cfg, layout, rank: 0, c)
        XCTAssertEqual(out.capacity, 1)
        XCTAssertEqual(out.outcome.map(\.rawValue), [0, 2, 2, 0])
    }

    /// The score order (packed keys, merge sort) against a plain comparison sort, on
    /// enough assignments to merge runs, with ties and both signs of zero: −0 ties +0.
    func testScoreOrderMatchesAComparisonSort() {
        let tokens = 50, k = 2, n = tokens * k
        var rng = SeededRandom(seed: 7)
        let pool: [Float] = [0, -0.0, 0.25, -0.25, 1, 0.5, .leastNonzeroMagnitude, -.leastNonzeroMagnitude]
        let weights = (0..<n).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }
        let expected = (0..<Int32(n)).sorted { x, y in
            let wx = weights[Int(x)], wy = weights[Int(y)]
            return wx > wy || (wx == wy && x < y)
        }
        var order = [Int32](repeating: -1, count: n)
        var keys = [UInt64](repeating: 0, count: n), merge = keys
        weights.withUnsafeBufferPointer { w in
            keys.withUnsafeMutableBufferPointer { keys in
                merge.withUnsafeMutableBufferPointer { merge in
                    order.withUnsafeMutableBufferPointer { order in
                        Capacity.priorityOrder(.score, tokens: tokens, topK: k, weights: w,
                                               keys: keys, sortScratch: merge, into: order)
                    }
                }
            }
        }
        XCTAssertEqual(order, expected)
    }

    func testRenormalizeDividesSurvivorsBySum() throws {
        var cfg = config(experts: 3, topK: 2, factor: 0.5, priority: .position)
        cfg.overflow.renormalize = true
        let layout = try ExpertLayout(cfg.placement, experts: 3, ranks: 1)
        let out = fastDecisions(cfg, layout, rank: 0, priorityCase)
        // Token 0 keeps both (0.6 + 0.4 = 1), token 1 keeps none, token 2 keeps 0.05 -> 1.
        XCTAssertEqual(out.weight, [0.6, 0.4, 0, 0, 0, 1])
    }

    func testDroplessAcceptsEverything() throws {
        let cfg = config(experts: 4, topK: 1, factor: nil)
        let layout = try ExpertLayout(cfg.placement, experts: 4, ranks: 1)
        let out = fastDecisions(cfg, layout, rank: 0, publishedExample())
        XCTAssertEqual(out.expertLoad, [7, 2, 1, 0])
        XCTAssertEqual(out.dropped, 0)
    }
}
