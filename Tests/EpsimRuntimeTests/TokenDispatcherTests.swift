import XCTest
import EpsimConformance
@testable import EpsimCore
@testable import EpsimRuntime

/// The token dispatcher and its handle alone, on emulated ranks: what arrives is what
/// the layout says, every payload row says where it came from, and combine brings every
/// row back to its slot.
final class TokenDispatcherTests: XCTestCase {
    static let hidden = 4, topK = 2, experts = 7

    /// Decisions of `rank` (the same function every rank can evaluate for every rank).
    static func decisions(rank: Int, tokens: Int, layout: ExpertLayout) -> RoutingDecisions {
        var d = RoutingDecisions()
        d.reset(tokens: tokens, topK: topK, experts: experts)
        for t in 0..<tokens {
            for j in 0..<topK {
                let a = t * topK + j, h = (rank * 131 + t * 17 + j * 7) % 23
                guard h % 6 != 0 else { continue }   // dropped
                let e = (h + j) % experts, slot = layout.copy(of: e, sourceRank: rank, token: t)
                d.finalExpert[a] = Int32(e)
                d.outcome[a] = .accepted
                d.weight[a] = Float(j + 1)
                d.destRank[a] = Int32(slot.rank)
                d.destLocal[a] = Int32(slot.localIndex)
            }
        }
        return d
    }

    static func tokens(rank: Int) -> Int { 9 + 5 * rank }

    /// Row t of rank r's tokens: [r, t, r + t, 1], exact in every wire format used here.
    static func inputs(rank: Int) -> [Float] {
        (0..<tokens(rank: rank)).flatMap { t in [Float(rank), Float(t), Float(rank + t), 1] }
    }

    /// On every rank: dispatch (blocking or not, all tokens or in chunks), check the
    /// received counts and rows, combine with identity experts, return the output. One
    /// dispatcher serves every chunk and `steps` steps, so its storage goes to the handle
    /// and back each time.
    /// With dedup the same rows reach each expert (a token uses an expert at most once,
    /// so its slots there are in token order either way).
    static func roundTrip(ranks P: Int, chunks: Int, nonBlocking: Bool, steps: Int = 2,
                          dedup: DispatchDedup = .none) throws -> [[Float]] {
        let layout = try ExpertLayout(PlacementConfig(), experts: experts, ranks: P)
        return try EmulatedWorld.run(ranks: P) { t in
            let me = t.rank, T = tokens(rank: me), H = hidden
            let x = inputs(rank: me), d = decisions(rank: me, tokens: T, layout: layout)
            let dispatcher = TokenDispatcher(layout: layout, rank: me, hidden: H, topK: topK, dispatch: .fp32, combine: .bf16,
                                             dedup: dedup)
            var out = [Float](repeating: 0, count: T * H)
            for step in 0..<steps {
              if step > 0 { for i in out.indices { out[i] = 0 } }
              for c in 0..<chunks {
                let range = (c * T / chunks)..<((c + 1) * T / chunks)
                var output: DispatchOutput
                if nonBlocking {
                    let handle = dispatcher.dispatchPreprocess(x: x, decisions: d, tokens: range)
                    let inFlight = try dispatcher.startTokenDispatch(handle, transport: t)
                    output = dispatcher.dispatchPostprocess(try inFlight.wait())
                } else {
                    output = try dispatcher.dispatch(x: x, decisions: d, tokens: range, transport: t)
                }
                // What should arrive: from each source q, in rank order, its slots in
                // this chunk's tokens that chose a copy here, grouped by local expert.
                var want: [[Float]] = Array(repeating: [], count: dispatcher.maxLocalExperts)
                for q in 0..<P {
                    let Tq = tokens(rank: q), dq = decisions(rank: q, tokens: Tq, layout: layout)
                    let rq = (c * Tq / chunks)..<((c + 1) * Tq / chunks)
                    for a in (rq.lowerBound * topK)..<(rq.upperBound * topK) where dq.destRank[a] == Int32(me) {
                        let tok = a / topK
                        want[Int(dq.destLocal[a])] += [Float(q), Float(tok), Float(q + tok), 1]
                    }
                }
                guard output.tokensPerExpert == want.map({ $0.count / H }) else {
                    throw ConformanceFailure("rank \(me) chunk \(c): per-expert counts \(output.tokensPerExpert), expected \(want.map { $0.count / H })")
                }
                guard output.rows.prefix(output.handle.expertRows * H).elementsEqual(want.joined()) else {
                    throw ConformanceFailure("rank \(me) chunk \(c): received rows do not encode their sources")
                }
                // Identity experts: the outputs are the inputs.
                let y = Array(output.rows.prefix(output.handle.expertRows * H))
                try dispatcher.combine(output.handle, expertOutput: y, weights: d.weight, into: &out, transport: t)
              }
            }
            return out
        }
    }

    private func check(ranks P: Int, chunks: Int, nonBlocking: Bool, dedup: DispatchDedup = .none) throws {
        let outputs = try Self.roundTrip(ranks: P, chunks: chunks, nonBlocking: nonBlocking, dedup: dedup)
        let layout = try ExpertLayout(PlacementConfig(), experts: Self.experts, ranks: P)
        for r in 0..<P {
            let T = Self.tokens(rank: r), d = Self.decisions(rank: r, tokens: T, layout: layout), x = Self.inputs(rank: r)
            for t in 0..<T {
                // Every surviving slot's row came back, weighted: Σ_j w_j · x[t] (bf16
                // combine is exact for these small integers).
                var w: Float = 0
                for j in 0..<Self.topK where d.destRank[t * Self.topK + j] >= 0 { w += d.weight[t * Self.topK + j] }
                let got = Array(outputs[r][(t * Self.hidden)..<((t + 1) * Self.hidden)])
                XCTAssertEqual(got, x[(t * Self.hidden)..<((t + 1) * Self.hidden)].map { w * $0 },
                               "P=\(P) chunks=\(chunks) dedup \(dedup) rank \(r) token \(t)")
            }
        }
    }

    func testBlockingDispatchAndCombineOnOneToFiveRanks() throws {
        for P in 1...5 { try check(ranks: P, chunks: 1, nonBlocking: false) }
    }

    func testNonBlockingDispatchInChunks() throws {
        for P in [2, 3] { try check(ranks: P, chunks: 3, nonBlocking: true) }
    }

    func testDedupBlockingAndNonBlockingInChunks() throws {
        for P in 1...4 { try check(ranks: P, chunks: 1, nonBlocking: false, dedup: .rank) }
        for P in [2, 3] { try check(ranks: P, chunks: 3, nonBlocking: true, dedup: .rank) }
    }

    /// With dedup a rank sends one row per (token, destination rank), each of header
    /// (8·k bytes) plus row bytes, receives as many, and its experts compute every
    /// assignment; without dedup it sends one row per assignment, more bytes here.
    func testDedupSendsOneRowPerTokenAndRankWithItsHeaderBytes() throws {
        let P = 3, layout = try ExpertLayout(PlacementConfig(), experts: Self.experts, ranks: P)
        let row = WireCodec.bytesPerRow(.bf16, hidden: Self.hidden), header = 8 * Self.topK
        let figures = try EmulatedWorld.run(ranks: P) { t in
            let me = t.rank, T = Self.tokens(rank: me)
            let d = Self.decisions(rank: me, tokens: T, layout: layout)
            var sent: [[Int]] = []
            for dedup in DispatchDedup.allCases {
                let dispatcher = TokenDispatcher(layout: layout, rank: me, hidden: Self.hidden, topK: Self.topK,
                                                 dispatch: .bf16, combine: .fp32, dedup: dedup)
                let output = try dispatcher.dispatch(x: Self.inputs(rank: me), decisions: d, transport: t)
                let b = output.handle.bytes(.dispatch)
                sent.append(b.sendBytes + [b.recvBytes.reduce(0, +), output.handle.recvRows, output.handle.expertRows])
                var out = [Float](repeating: 0, count: T * Self.hidden)
                try dispatcher.combine(output.handle, expertOutput: nil, weights: d.weight, into: &out, transport: t)
            }
            return sent
        }
        var fewer = false
        for r in 0..<P {
            let T = Self.tokens(rank: r), d = Self.decisions(rank: r, tokens: T, layout: layout)
            var pairs = [Int](repeating: 0, count: P), slots = [Int](repeating: 0, count: P)
            for t in 0..<T {
                var ranks = Set<Int32>()
                for j in 0..<Self.topK where d.destRank[t * Self.topK + j] >= 0 {
                    ranks.insert(d.destRank[t * Self.topK + j])
                    slots[Int(d.destRank[t * Self.topK + j])] += 1
                }
                for p in ranks { pairs[Int(p)] += 1 }
            }
            let plain = figures[r][0], deduplicated = figures[r][1]
            XCTAssertEqual(Array(plain.prefix(P)), slots.map { $0 * row }, "rank \(r) without dedup")
            XCTAssertEqual(Array(deduplicated.prefix(P)), pairs.map { $0 * (header + row) }, "rank \(r) with dedup")
            if pairs.reduce(0, +) < slots.reduce(0, +) { fewer = true }
            // Received: rows of (header + row) bytes; the experts compute every assignment.
            XCTAssertEqual(deduplicated[P], deduplicated[P + 1] * (header + row))
            XCTAssertEqual(deduplicated[P + 2], plain[P + 2], "rank \(r): rows the experts compute")
            XCTAssertLessThan(deduplicated[P + 1], plain[P + 1], "rank \(r) receives fewer rows")
        }
        XCTAssertTrue(fewer)
        // H = 4 at bf16 is 8 bytes a row, less than the 16-byte header: dedup costs bytes
        // here; the CLI test shows the saving on realistic rows.
    }

    /// Negative control: decisions that send one slot to the wrong rank change what
    /// arrives, and the count check sees it on both ranks involved.
    func testAWrongDestinationIsDetected() throws {
        let layout = try ExpertLayout(PlacementConfig(), experts: Self.experts, ranks: 2)
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 2) { t in
            let me = t.rank, T = Self.tokens(rank: me)
            var d = Self.decisions(rank: me, tokens: T, layout: layout)
            let a = (0..<(T * Self.topK)).first { d.destRank[$0] == 0 }!
            if me == 1 { d.destRank[a] = 1; d.destLocal[a] = 0 }   // rank 1 misroutes one slot
            let dispatcher = TokenDispatcher(layout: layout, rank: me, hidden: Self.hidden, topK: Self.topK,
                                             dispatch: .fp32, combine: .fp32)
            let output = try dispatcher.dispatch(x: Self.inputs(rank: me), decisions: d, transport: t)
            let clean = Self.decisions(rank: 1, tokens: Self.tokens(rank: 1), layout: layout)
            let expected = (0..<(Self.tokens(rank: 1) * Self.topK)).filter { clean.destRank[$0] == Int32(me) }.count
            let fromOne = output.handle.receivePlan.recvRowCounts[1]
            if fromOne != expected { throw ConformanceFailure("rank \(me): \(fromOne) rows from rank 1, expected \(expected)") }
        }) { error in
            // The world reports the first rank that failed; either rank's line names the
            // miscount (rank 0 receives one row fewer, rank 1 one more).
            let text = "\(error)"
            XCTAssertTrue(text.contains("rows from rank 1, expected"), text)
        }
    }

    /// The handle reports the byte matrices it handed to the transport.
    func testHandleRecordsTheExchangedBytes() throws {
        let layout = try ExpertLayout(PlacementConfig(), experts: Self.experts, ranks: 3)
        let sums = try EmulatedWorld.run(ranks: 3) { t in
            let me = t.rank, T = Self.tokens(rank: me)
            let d = Self.decisions(rank: me, tokens: T, layout: layout)
            let dispatcher = TokenDispatcher(layout: layout, rank: me, hidden: Self.hidden, topK: Self.topK,
                                             dispatch: .bf16, combine: .fp32)
            let output = try dispatcher.dispatch(x: Self.inputs(rank: me), decisions: d, decode: false, transport: t)
            let b = output.handle.bytes(.dispatch), row = WireCodec.bytesPerRow(.bf16, hidden: Self.hidden)
            return [b.sendBytes.reduce(0, +), output.handle.sendRows * row, b.recvBytes.reduce(0, +),
                    output.handle.recvRows * row, output.rows.count]
        }
        for s in sums {
            XCTAssertEqual(s[0], s[1])
            XCTAssertEqual(s[2], s[3])
            XCTAssertEqual(s[4], 0, "decode: false leaves the rows undecoded")
        }
        XCTAssertGreaterThan(sums.map { $0[0] }.reduce(0, +), 0)
    }
}
