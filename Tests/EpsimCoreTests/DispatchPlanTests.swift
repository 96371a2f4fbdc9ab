import Foundation
import XCTest
@testable import EpsimCore

/// Synthetic decisions of one rank: slot (t, j) goes to a pseudo-random expert, about one
/// slot in five is dropped, and the copy is the layout's for that (rank, token).
func syntheticDecisions(rank: Int, tokens: Int, topK: Int, layout: ExpertLayout, seed: Int) -> RoutingDecisions {
    var d = RoutingDecisions()
    let experts = layout.local.flatMap { $0 }.max().map { $0 + 1 } ?? 1
    d.reset(tokens: tokens, topK: topK, experts: experts)
    for t in 0..<tokens {
        for j in 0..<topK {
            let a = t * topK + j
            let h = (rank * 7_919 + t * 104_729 + j * 31 + seed * 13) % 1_009
            guard h % 5 != 0 else { continue }   // dropped: the reset left the sentinels
            let e = h % experts
            let slot = layout.copy(of: e, sourceRank: rank, token: t)
            d.finalExpert[a] = Int32(e)
            d.outcome[a] = .accepted
            d.weight[a] = Float(1 + (h % 3)) / 4
            d.destRank[a] = Int32(slot.rank)
            d.destLocal[a] = Int32(slot.localIndex)
        }
    }
    return d
}

final class DispatchPlanTests: XCTestCase {
    private func layout(experts: Int, ranks: Int) throws -> ExpertLayout {
        try ExpertLayout(PlacementConfig(), experts: experts, ranks: ranks)
    }

    func testSegmentsCountEverySurvivingSlotByDestinationAndExpert() throws {
        let P = 3, L = 3, k = 2, T = 40
        let layout = try layout(experts: 8, ranks: P)
        let d = syntheticDecisions(rank: 1, tokens: T, topK: k, layout: layout, seed: 1)
        var plan = DispatchPlan(ranks: P, maxLocalExperts: L)
        plan.plan(d)
        var want = [Int](repeating: 0, count: P * L)
        for a in 0..<(T * k) where d.destRank[a] >= 0 { want[Int(d.destRank[a]) * L + Int(d.destLocal[a])] += 1 }
        XCTAssertEqual(plan.sendSegments, want)
        XCTAssertEqual(plan.sendRows, want.reduce(0, +))
        XCTAssertLessThan(plan.sendRows, T * k, "some slots are dropped")
        XCTAssertEqual(plan.sendRowCounts, (0..<P).map { p in want[(p * L)..<((p + 1) * L)].reduce(0, +) })
        XCTAssertEqual(plan.sendRowDispls, [0, plan.sendRowCounts[0], plan.sendRowCounts[0] + plan.sendRowCounts[1]])
    }

    func testRowsAreOrderedByDestinationThenExpertThenSlotAndInvertRowOfSlot() throws {
        let P = 4, k = 3, T = 33
        let layout = try layout(experts: 8, ranks: P)
        let d = syntheticDecisions(rank: 2, tokens: T, topK: k, layout: layout, seed: 2)
        var plan = DispatchPlan(ranks: P, maxLocalExperts: 2)
        plan.plan(d)
        let slots = Array(plan.sendSlot.prefix(plan.sendRows)).map(Int.init)
        let keys = slots.map { a in (Int(d.destRank[a]), Int(d.destLocal[a]), a) }
        XCTAssertTrue(zip(keys, keys.dropFirst()).allSatisfy { $0 < $1 }, "wire order")
        for a in 0..<(T * k) {
            let row = Int(plan.rowOfSlot[a])
            if d.destRank[a] < 0 { XCTAssertEqual(row, -1) } else { XCTAssertEqual(slots[row], a) }
        }
    }

    func testATokenRangePlansOnlyItsSlots() throws {
        let layout = try layout(experts: 6, ranks: 2)
        let d = syntheticDecisions(rank: 0, tokens: 20, topK: 2, layout: layout, seed: 3)
        var plan = DispatchPlan(ranks: 2, maxLocalExperts: 3)
        plan.plan(d)
        let everything = plan.sendRows
        plan.plan(d, tokens: 5..<12)
        XCTAssertEqual(plan.tokens, 5..<12)
        let inside = (10..<24).filter { d.destRank[$0] >= 0 }.count
        XCTAssertEqual(plan.sendRows, inside)
        XCTAssertLessThan(plan.sendRows, everything)
        XCTAssertTrue((0..<10).allSatisfy { plan.rowOfSlot[$0] == -1 })
        XCTAssertTrue((24..<40).allSatisfy { plan.rowOfSlot[$0] == -1 }, "slots after the range are reset too")
        XCTAssertTrue(plan.sendSlot.prefix(plan.sendRows).allSatisfy { (10..<24).contains(Int($0)) })
    }

    func testReceivePlanIsExpertMajorAndCountsPerExpert() {
        // Two sources, two local experts: from rank 0 (2, 1) rows, from rank 1 (0, 3).
        var r = ReceivePlan(ranks: 2, maxLocalExperts: 2)
        r.recvSegments = [2, 1, 0, 3]
        XCTAssertEqual(r.planRows(), 6)
        XCTAssertEqual(r.recvRowCounts, [3, 3])
        XCTAssertEqual(r.recvRowDispls, [0, 3])
        r.planExpertOrder()
        XCTAssertEqual(r.tokensPerExpert, [2, 4])
        // Expert 0: rank 0's rows 0, 1; expert 1: rank 0's row 2, then rank 1's rows 3, 4, 5.
        XCTAssertEqual(Array(r.expertRowSource.prefix(6)), [0, 1, 2, 3, 4, 5])
        r.recvSegments = [1, 2, 3, 0]
        r.planRows()
        r.planExpertOrder()
        XCTAssertEqual(r.tokensPerExpert, [4, 2])
        XCTAssertEqual(Array(r.expertRowSource.prefix(6)), [0, 3, 4, 5, 1, 2])
    }

    /// Permute encodes a token once and copies its bytes to the token's other rows: the
    /// wire equals every row encoded on its own, in every precision, with and without
    /// dedup, and `sendCopyOf` names only an earlier row of the same token.
    func testPermuteCopiesEqualEncodingEveryRow() throws {
        let k = 4, T = 23, H = 9
        let layout = try layout(experts: 8, ranks: 2)
        let d = syntheticDecisions(rank: 0, tokens: T, topK: k, layout: layout, seed: 7)
        let x = (0..<(T * H)).map { Float(sin(Double($0))) * Float(1 + $0 % 5) }
        for dedup in [DispatchDedup.none, .rank] {
            for precision in WirePrecision.allCases {
                var plan = DispatchPlan(ranks: 2, maxLocalExperts: 4, dedup: dedup)
                plan.plan(d, tokens: 3..<20)
                let header = plan.headerBytes, stride = header + WireCodec.bytesPerRow(precision, hidden: H)
                var wire = [UInt8](repeating: 0, count: plan.sendRows * stride)
                x.withUnsafeBufferPointer { x in
                    wire.withUnsafeMutableBytes { TokenPermutation.permute(x, plan: plan, topK: k, hidden: H, precision: precision, into: $0) }
                }
                var copies = 0
                for i in 0..<plan.sendRows {
                    let t = Int(plan.sendSlot[i]) / k
                    var want = [UInt8](repeating: 0, count: stride - header)
                    x.withUnsafeBufferPointer { x in
                        want.withUnsafeMutableBytes { WireCodec.encodeRow(precision, src: x.baseAddress! + t * H, hidden: H, dst: $0.baseAddress!) }
                    }
                    XCTAssertEqual(Array(wire[(i * stride + header)..<((i + 1) * stride)]), want, "\(dedup) \(precision) row \(i)")
                    let first = Int(plan.sendCopyOf[i])
                    if first >= 0 {
                        copies += 1
                        XCTAssertLessThan(first, i)
                        XCTAssertEqual(Int(plan.sendSlot[first]) / k, t, "\(dedup) \(precision) row \(i)")
                    }
                }
                XCTAssertGreaterThan(copies, 0, "\(dedup) \(precision): no token had two rows")
            }
        }
    }

    /// One rank sending to itself: permute, receive, expert-major decode, identity
    /// experts, source-major encode and unpermute give out[t] = Σ_j w[t, j] · x[t] over
    /// the surviving slots, exactly in fp32.
    func testPermuteAndUnpermuteRoundTripOnOneRank() throws {
        let k = 2, T = 17, H = 5
        let layout = try layout(experts: 4, ranks: 1)
        let d = syntheticDecisions(rank: 0, tokens: T, topK: k, layout: layout, seed: 4)
        let x = (0..<(T * H)).map { Float($0 / H) + Float($0 % H) / 8 }
        var plan = DispatchPlan(ranks: 1, maxLocalExperts: 4)
        plan.plan(d)
        let rowBytes = WireCodec.bytesPerRow(.fp32, hidden: H)
        var wire = [UInt8](repeating: 0, count: plan.sendRows * rowBytes)
        x.withUnsafeBufferPointer { x in
            wire.withUnsafeMutableBytes { TokenPermutation.permute(x, plan: plan, topK: k, hidden: H, precision: .fp32, into: $0) }
        }
        var receive = ReceivePlan(ranks: 1, maxLocalExperts: 4)
        receive.recvSegments = plan.sendSegments
        receive.planRows()
        receive.planExpertOrder()
        var rows = [Float](repeating: 0, count: receive.recvRows * H)
        wire.withUnsafeBytes { w in
            rows.withUnsafeMutableBufferPointer { TokenPermutation.expertMajor(w, plan: receive, hidden: H, precision: .fp32, into: $0) }
        }
        // Expert-major rows carry their tokens: expert l's block holds the rows of the
        // slots that chose local expert l, in slot order.
        var i = 0
        for l in 0..<4 {
            for a in 0..<(T * k) where d.destLocal[a] == Int32(l) {
                XCTAssertEqual(Array(rows[(i * H)..<((i + 1) * H)]), Array(x[((a / k) * H)..<((a / k + 1) * H)]))
                i += 1
            }
        }
        XCTAssertEqual(i, receive.recvRows)
        var back = [UInt8](repeating: 0, count: plan.sendRows * rowBytes)
        rows.withUnsafeBufferPointer { y in
            back.withUnsafeMutableBytes { TokenPermutation.sourceMajor(y, plan: receive, hidden: H, precision: .fp32, into: $0) }
        }
        XCTAssertEqual(back, wire, "identity experts send back exactly what came")
        var out = [Float](repeating: 0, count: T * H), scratch = [Float](repeating: 0, count: H)
        back.withUnsafeBytes { w in
            scratch.withUnsafeMutableBufferPointer { s in
                out.withUnsafeMutableBufferPointer {
                    TokenPermutation.unpermute(w, plan: plan, weights: d.weight, topK: k, hidden: H, precision: .fp32,
                                               scratch: s, into: $0)
                }
            }
        }
        for t in 0..<T {
            var w: Float = 0
            for j in 0..<k where d.destRank[t * k + j] >= 0 { w += d.weight[t * k + j] }
            for c in 0..<H { XCTAssertEqual(out[t * H + c], w * x[t * H + c], accuracy: 1e-5 * max(1, abs(x[t * H + c]))) }
        }
    }
}
