import XCTest
import EpsimCore
@testable import EpsimRuntime

/// What the target-system model is given: the traffic `ModelObserver` gathers must be the
/// run's own (its bytes the traffic matrix's, its rows the accepted assignments, its
/// tokens per node the distinct destinations), whatever the nodes, chunks and layers.
final class ModelObserverTests: XCTestCase {
    private func config(chunks: Int = 1, layers: Int = 2) -> SimConfig {
        var c = SimConfig()
        c.model.hidden = 32
        c.model.ffn = 64
        c.model.experts = 8
        c.model.topK = 3
        c.model.layers = layers
        c.tokens = .perRank([40, 24, 40, 56])
        c.workload = .zipf(exponent: 1.1)
        c.capacity.factor = 1.0
        c.overflow.policy = .reroute
        c.overlapChunks = chunks
        c.compute = .modeled(tflops: 1e6, efficiency: 1)
        c.steps = 1
        c.warmupSteps = 1
        c.seed = 11
        return c
    }

    private func run(_ c: SimConfig, devicesPerNode: Int) throws -> RunResult {
        var settings = Simulation.Settings()
        settings.system = smallSystem(devicesPerNode: devicesPerNode)
        return try emulatedResult(c, ranks: 4, settings: settings)
    }

    func testBytesAndRowsAreTheRunsOwn() throws {
        for (chunks, dedup) in [(1, DispatchDedup.none), (2, .none), (1, .rank), (2, .rank)] {
            var c = config(chunks: chunks)
            c.dispatch.dedup = dedup
            let r = try run(c, devicesPerNode: 2)
            // One counted step: its traffic is the run's whole matrix.
            let traffic = [try XCTUnwrap(r.modeled?.lastTraffic)]
            XCTAssertEqual(traffic.count, c.steps)
            var dispatch = Array(repeating: Array(repeating: Int64(0), count: 4), count: 4)
            var combine = dispatch
            var rows: Int64 = 0
            for step in traffic {
                XCTAssertEqual(step.nodes, 2)
                for (src, part) in step.perRank.enumerated() {
                    XCTAssertEqual(part.tokens, c.tokens(rank: src, size: 4))
                    XCTAssertEqual(part.chunks.count, c.model.layers * chunks)
                    // Chunks of a layer cover its tokens.
                    for layer in 0..<c.model.layers {
                        let tokens = (0..<chunks).reduce(0) { $0 + part.chunks[layer * chunks + $1].tokens }
                        XCTAssertEqual(tokens, part.tokens)
                    }
                    for chunk in part.chunks {
                        for dst in 0..<4 {
                            dispatch[src][dst] += Int64(chunk.dispatchBytes[dst])
                            combine[src][dst] += Int64(chunk.combineBytes[dst])
                            rows += Int64(chunk.dispatchRows[dst])
                        }
                    }
                }
            }
            XCTAssertEqual(dispatch, r.traffic.dispatch, "chunks \(chunks)")
            XCTAssertEqual(combine, r.traffic.combine, "chunks \(chunks)")
            if dedup == .none {
                XCTAssertEqual(rows, r.total.accepted + r.total.rerouted, "one row per surviving assignment")
            } else {
                XCTAssertLessThan(rows, r.total.accepted + r.total.rerouted, "one row per token and rank")
                // Each row carries the token and its slots' header.
                let rowBytes = Int64(WireCodec.bytesPerRow(c.precision.dispatch, hidden: c.model.hidden)
                                     + DedupHeader.bytes(topK: c.model.topK))
                XCTAssertEqual(dispatch.joined().reduce(0, +), rows * rowBytes)
            }
            // Every row sent out comes back: what d returns to s is what s sent to d.
            for step in traffic {
                for (s, part) in step.perRank.enumerated() {
                    for (e, chunk) in part.chunks.enumerated() {
                        for d in 0..<4 {
                            XCTAssertEqual(step.perRank[d].chunks[e].combineRows[s], chunk.dispatchRows[d], "\(s) → \(d)")
                        }
                    }
                }
            }
            // Rows each rank's experts computed are the rows sent to it.
            for step in traffic {
                for dst in 0..<4 {
                    let sent = step.perRank.reduce(0) { acc, part in acc + part.chunks.reduce(0) { $0 + $1.dispatchRows[dst] } }
                    let computed = step.perRank[dst].chunks.reduce(0) { $0 + $1.expertRows.reduce(0, +) }
                    if dedup == .none { XCTAssertEqual(sent, computed, "rank \(dst)") } else { XCTAssertLessThan(sent, computed) }
                }
            }
        }
    }

    /// Tokens per node: on one node, every token with a surviving assignment; with one
    /// device per node, the distinct (token, rank) pairs, between the two.
    func testTokensToNodeCountsDistinctDestinations() throws {
        let c = config()
        let oneNode = [try XCTUnwrap(try run(c, devicesPerNode: 4).modeled?.lastTraffic)]
        let perRank = [try XCTUnwrap(try run(c, devicesPerNode: 1).modeled?.lastTraffic)]
        for (a, b) in zip(oneNode, perRank) {
            XCTAssertEqual(a.nodes, 1)
            XCTAssertEqual(b.nodes, 4)
            for (x, y) in zip(a.perRank, b.perRank) {
                for (cx, cy) in zip(x.chunks, y.chunks) {
                    let tokens = cx.tokensToNode[0], pairs = cy.tokensToNode.reduce(0, +)
                    let assignments = cy.dispatchRows.reduce(0, +)
                    XCTAssertLessThanOrEqual(tokens, cx.tokens)
                    XCTAssertLessThanOrEqual(tokens, pairs)
                    XCTAssertLessThanOrEqual(pairs, assignments)
                    // Some token of a top-3 zipf layout picks two experts on one rank.
                    XCTAssertGreaterThan(tokens, 0)
                }
            }
            let pairs = b.perRank.reduce(0) { $0 + $1.chunks.reduce(0) { $0 + $1.tokensToNode.reduce(0, +) } }
            let rows = b.perRank.reduce(0) { $0 + $1.chunks.reduce(0) { $0 + $1.dispatchRows.reduce(0, +) } }
            XCTAssertLessThan(pairs, rows, "zipf top-3 on 8 experts puts two choices of some token on one rank")
        }
    }

    /// The same inputs give the same modeled numbers, run after run.
    func testModeledTimesAreReproducible() throws {
        let a = try XCTUnwrap(try run(config(chunks: 2), devicesPerNode: 2).modeled)
        let b = try XCTUnwrap(try run(config(chunks: 2), devicesPerNode: 2).modeled)
        XCTAssertEqual(a.steps, b.steps)
        XCTAssertEqual(a.json.serialized(), b.json.serialized())
        XCTAssertGreaterThan(a.stepMs, 0)
    }

    /// The traffic split per rank (flat all-to-all: each byte on the direct link) adds
    /// up to the measured matrix: self on the diagonal, NVLink inside a node, the NIC
    /// between nodes, each sent byte also received.
    func testTrafficSplitPerRankMatchesTheMatrix() throws {
        var c = config(chunks: 2)
        c.steps = 3  // summed over counted steps, as the matrix is
        let r = try run(c, devicesPerNode: 2)
        let m = try XCTUnwrap(r.modeled)
        XCTAssertEqual(m.steps.count, 3)
        let bytes = r.traffic.bytes
        for rank in 0..<4 {
            XCTAssertEqual(m.selfBytesPerRank[rank], bytes[rank][rank])
            let node = rank / 2
            let intra = (0..<4).filter { $0 != rank && $0 / 2 == node }.reduce(Int64(0)) { $0 + bytes[rank][$1] }
            let inter = (0..<4).filter { $0 / 2 != node }.reduce(Int64(0)) { $0 + bytes[rank][$1] }
            XCTAssertEqual(m.linkBytesPerRank(.nvlinkOut)[rank], intra, "rank \(rank)")
            XCTAssertEqual(m.linkBytesPerRank(.nicOut)[rank], inter, "rank \(rank)")
            let received = (0..<4).filter { $0 / 2 != node }.reduce(Int64(0)) { $0 + bytes[$1][rank] }
            XCTAssertEqual(m.linkBytesPerRank(.nicIn)[rank], received, "rank \(rank)")
        }
        XCTAssertEqual(m.selfBytesPerRank.reduce(0, +), m.selfBytes)
        XCTAssertEqual(m.linkBytesPerRank(.nicOut).reduce(0, +), m.interNodeBytes)
        XCTAssertEqual(m.linkBytesPerRank(.nvlinkOut).reduce(0, +), m.intraNodeBytes)
    }
}
