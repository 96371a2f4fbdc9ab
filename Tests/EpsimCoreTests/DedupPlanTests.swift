import XCTest
@testable import EpsimCore

/// `dispatch.dedup: rank` in the pure stages: one send row per (token, destination
/// rank) with the right header, the receive side's expert-major order read from the
/// headers, and a round trip through every stage (the exchanges done by hand) that
/// gives each token Σ weight · expert output, as without dedup.
final class DedupPlanTests: XCTestCase {
    private func layout(experts: Int, ranks: Int) throws -> ExpertLayout {
        try ExpertLayout(PlacementConfig(), experts: experts, ranks: ranks)
    }

    /// The first slot of token t bound for rank p, or nil.
    private func firstSlot(_ d: RoutingDecisions, token t: Int, rank p: Int) -> Int? {
        (0..<d.topK).first { d.destRank[t * d.topK + $0] == Int32(p) }.map { t * d.topK + $0 }
    }

    func testOneRowPerDistinctTokenAndRankWithEachSlotInItsHeader() throws {
        // Against a plain count, over seeds, world sizes and k; one plan reused
        // throughout, as a dispatcher reuses it from step to step, with fewer tokens
        // each time so that nothing of an earlier plan may survive in a later one.
        for (P, k) in [(1, 2), (2, 2), (3, 3), (4, 4), (8, 2)] {
            let layout = try layout(experts: 8, ranks: P), L = layout.local.map(\.count).max()!
            var plan = DispatchPlan(ranks: P, maxLocalExperts: L, dedup: .rank)
            for seed in 0..<6 {
                let d = syntheticDecisions(rank: seed % P, tokens: 60 - 7 * seed, topK: k, layout: layout, seed: seed)
                plan.plan(d)
                try check(plan, d, ranks: P, localExperts: L, shares: P < 8)
            }
        }
    }

    private func check(_ plan: DispatchPlan, _ d: RoutingDecisions, ranks P: Int, localExperts L: Int,
                       shares: Bool) throws {
        let k = d.topK, T = d.tokens
        XCTAssertEqual(plan.segmentWidth, L + 1)
        XCTAssertEqual(plan.headerBytes, 8 * k)
        // Counted here from the decisions alone.
        var pairs = [Int](repeating: 0, count: P), assignments = [Int](repeating: 0, count: P * L)
        for t in 0..<T {
            for p in 0..<P where firstSlot(d, token: t, rank: p) != nil { pairs[p] += 1 }
            for j in 0..<k where d.destRank[t * k + j] >= 0 {
                assignments[Int(d.destRank[t * k + j]) * L + Int(d.destLocal[t * k + j])] += 1
            }
        }
        XCTAssertEqual(plan.sendRowCounts, pairs)
        XCTAssertEqual(plan.sendRows, pairs.reduce(0, +))
        if shares { XCTAssertLessThan(plan.sendRows, assignments.reduce(0, +), "some tokens send two slots to one rank") }
        for p in 0..<P {
            XCTAssertEqual(Array(plan.sendSegments[(p * (L + 1))..<(p * (L + 1) + L)]), Array(assignments[(p * L)..<((p + 1) * L)]))
            XCTAssertEqual(plan.sendSegments[p * (L + 1) + L], pairs[p])
        }
        // Rows in (destination, token) order, each the token's first slot there.
        let rows = (0..<plan.sendRows).map { i in
            (rank: plan.sendRowDispls.lastIndex { $0 <= i }!, slot: Int(plan.sendSlot[i]))
        }
        for (i, row) in rows.enumerated() {
            XCTAssertEqual(firstSlot(d, token: row.slot / k, rank: row.rank), row.slot, "row \(i)")
            if i > 0 {
                XCTAssertTrue((rows[i - 1].rank, rows[i - 1].slot) < (row.rank, row.slot), "wire order at row \(i)")
            }
            let t = row.slot / k
            for j in 0..<k {
                let a = t * k + j, here = d.destRank[a] == Int32(row.rank)
                XCTAssertEqual(plan.sendLocal[i * k + j], here ? d.destLocal[a] : -1, "row \(i) entry \(j)")
                XCTAssertEqual(plan.sendWeight[i * k + j], here ? d.weight[a] : 0, "row \(i) entry \(j)")
            }
        }
        for a in 0..<(T * k) {
            let row = Int(plan.rowOfSlot[a])
            if d.destRank[a] < 0 { XCTAssertEqual(row, -1); continue }
            XCTAssertEqual(rows[row].rank, Int(d.destRank[a]))
            XCTAssertEqual(rows[row].slot / k, a / k)
        }
    }

    func testAChunkPlansOnlyItsTokens() throws {
        let P = 2, k = 2, T = 30
        let layout = try layout(experts: 4, ranks: P)
        let d = syntheticDecisions(rank: 0, tokens: T, topK: k, layout: layout, seed: 5)
        var plan = DispatchPlan(ranks: P, maxLocalExperts: 2, dedup: .rank)
        plan.plan(d)
        plan.plan(d, tokens: 10..<25)
        var pairs = 0
        for t in 10..<25 { for p in 0..<P where firstSlot(d, token: t, rank: p) != nil { pairs += 1 } }
        XCTAssertEqual(plan.sendRows, pairs)
        for a in 0..<(T * k) where !(20..<50).contains(a) { XCTAssertEqual(plan.rowOfSlot[a], -1, "slot \(a)") }
        XCTAssertTrue((20..<50).allSatisfy { d.destRank[$0] < 0 || plan.rowOfSlot[$0] >= 0 })
    }

    /// Rank q's token t is [q, t, q + t, 1]: exact in fp32 and bf16.
    private func inputs(rank q: Int, tokens: Int) -> [Float] {
        (0..<tokens).flatMap { t in [Float(q), Float(t), Float(q + t), 1] }
    }

    /// Every stage of a dispatch and combine on P ranks, the exchanges done by hand,
    /// with identity experts: returns each rank's output and checks what arrived.
    private func roundTrip(ranks P: Int, experts: Int, topK k: Int, dedup: DispatchDedup) throws -> [[Float]] {
        let H = 4, layout = try layout(experts: experts, ranks: P)
        let L = layout.local.map(\.count).max()!
        let tokens = (0..<P).map { 11 + 6 * $0 }
        let decisions = (0..<P).map { syntheticDecisions(rank: $0, tokens: tokens[$0], topK: k, layout: layout, seed: 7) }
        let header = dedup == .rank ? DedupHeader.bytes(topK: k) : 0, stride = header + 4 * H
        var plans: [DispatchPlan] = [], wires: [[UInt8]] = []
        for q in 0..<P {
            var plan = DispatchPlan(ranks: P, maxLocalExperts: L, dedup: dedup)
            plan.plan(decisions[q])
            var wire = [UInt8](repeating: 0xAA, count: plan.sendRows * stride)
            let x = inputs(rank: q, tokens: tokens[q])
            x.withUnsafeBufferPointer { x in
                wire.withUnsafeMutableBytes { TokenPermutation.permute(x, plan: plan, topK: k, hidden: H, precision: .fp32, into: $0) }
            }
            plans.append(plan)
            wires.append(wire)
        }
        // Dispatch by hand, the experts (identity) and the combine preprocess per rank.
        var returned = (0..<P).map { [UInt8](repeating: 0, count: plans[$0].sendRows * 4 * H) }
        for p in 0..<P {
            var receive = ReceivePlan(ranks: P, maxLocalExperts: L, dedup: dedup)
            let W = receive.segmentWidth
            var recv: [UInt8] = []
            for q in 0..<P {
                for i in 0..<W { receive.recvSegments[q * W + i] = plans[q].sendSegments[p * W + i] }
                let from = plans[q].sendRowDispls[p] * stride
                recv += wires[q][from..<(from + plans[q].sendRowCounts[p] * stride)]
            }
            receive.planRows()
            if dedup == .rank {
                recv.withUnsafeBytes { receive.planExpertOrder(headers: $0, rowStride: stride, topK: k) }
            } else {
                receive.planExpertOrder()
            }
            // What should reach local expert l: every source's slots for it, in order.
            var want = [Float]()
            var counts = [Int](repeating: 0, count: L)
            for l in 0..<L {
                for q in 0..<P {
                    for a in 0..<(tokens[q] * k) where decisions[q].destRank[a] == Int32(p) && decisions[q].destLocal[a] == Int32(l) {
                        want += [Float(q), Float(a / k), Float(q + a / k), 1]
                        counts[l] += 1
                    }
                }
            }
            XCTAssertEqual(receive.tokensPerExpert, counts, "rank \(p)")
            XCTAssertEqual(receive.expertRows, counts.reduce(0, +))
            var rows = [Float](repeating: .nan, count: receive.expertRows * H)
            recv.withUnsafeBytes { wire in
                rows.withUnsafeMutableBufferPointer {
                    TokenPermutation.expertMajor(wire, plan: receive, hidden: H, precision: .fp32, headerBytes: header, into: $0)
                }
            }
            XCTAssertEqual(rows, want, "rank \(p): expert-major rows")
            var back = [UInt8](repeating: 0, count: receive.recvRows * 4 * H)
            var scratch = [Float](repeating: 0, count: H)
            rows.withUnsafeBufferPointer { y in
                back.withUnsafeMutableBytes { wire in
                    if dedup == .rank {
                        scratch.withUnsafeMutableBufferPointer {
                            TokenPermutation.sourceMajorSummed(y, plan: receive, topK: k, hidden: H, precision: .fp32,
                                                               scratch: $0, into: wire)
                        }
                    } else {
                        TokenPermutation.sourceMajor(y, plan: receive, hidden: H, precision: .fp32, into: wire)
                    }
                }
            }
            for q in 0..<P {
                let n = receive.recvRowCounts[q] * 4 * H, from = receive.recvRowDispls[q] * 4 * H
                let to = plans[q].sendRowDispls[p] * 4 * H
                returned[q].replaceSubrange(to..<(to + n), with: back[from..<(from + n)])
            }
        }
        return try (0..<P).map { q in
            var out = [Float](repeating: 0, count: tokens[q] * H), scratch = [Float](repeating: 0, count: H)
            returned[q].withUnsafeBytes { wire in
                scratch.withUnsafeMutableBufferPointer { s in
                    out.withUnsafeMutableBufferPointer {
                        TokenPermutation.unpermute(wire, plan: plans[q], weights: decisions[q].weight, topK: k, hidden: H,
                                                   precision: .fp32, scratch: s, into: $0)
                    }
                }
            }
            // Σ_j w_j · x[t] over surviving slots (identity experts).
            let x = inputs(rank: q, tokens: tokens[q])
            for t in 0..<tokens[q] {
                var w: Float = 0
                for j in 0..<k where decisions[q].destRank[t * k + j] >= 0 { w += decisions[q].weight[t * k + j] }
                for h in 0..<H {
                    XCTAssertEqual(out[t * H + h], w * x[t * H + h], accuracy: 1e-4 * abs(w * x[t * H + h]),
                                   "rank \(q) token \(t) element \(h) (\(dedup))")
                }
            }
            return try XCTUnwrap(out)
        }
    }

    func testRoundTripGivesEachTokenItsWeightedExpertsWithAndWithoutDedup() throws {
        for (P, E, k) in [(1, 4, 2), (2, 8, 3), (3, 8, 4), (4, 6, 2)] {
            let plain = try roundTrip(ranks: P, experts: E, topK: k, dedup: .none)
            let deduplicated = try roundTrip(ranks: P, experts: E, topK: k, dedup: .rank)
            // Small integers and quarter weights: both sums are exact, so equal.
            XCTAssertEqual(plain, deduplicated, "P=\(P) E=\(E) k=\(k)")
        }
    }
}
