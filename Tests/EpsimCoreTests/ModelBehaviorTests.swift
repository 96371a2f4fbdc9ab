import XCTest
@testable import EpsimCore

/// The target-system model reacts the right way to its inputs: bandwidths, algorithms,
/// execution modes, chunks. Exact byte counts where the traffic is built by hand.
final class ModelBehaviorTests: XCTestCase {
    func system(g: Int = 8, nvlink: Double = 200, nic: Double = 50, algorithm: AllToAllAlgorithm = .flat,
                device: DeviceSpec = DeviceSpec(bf16TFLOPS: 800, hbmGBps: 4000, launchMicros: 0, execution: .graph)) -> SystemSpec {
        SystemSpec(name: "t", devicesPerNode: g, device: device, intraNode: LinkSpec(gbps: nvlink, latencyMicros: 0),
                   interNode: LinkSpec(gbps: nic, latencyMicros: 0), allToAll: algorithm)
    }

    func h200() throws -> SystemSpec { try SystemSpec.load(path: repoRoot + "/configs/systems/h200-8x.yaml") }

    /// One chunk: `rows[d]` rows of `rowBytes` to each rank d, combine mirrored.
    func chunk(tokens: Int, rows: [Int], rowBytes: Int, tokensToNode: [Int], expertRows: [Int]) -> ChunkTraffic {
        ChunkTraffic(tokens: tokens, dispatchBytes: rows.map { $0 * rowBytes }, combineBytes: rows.map { $0 * rowBytes },
                     dispatchRows: rows, combineRows: rows, tokensToNode: tokensToNode, expertRows: expertRows)
    }

    func testHierarchicalSendsATokenOncePerRemoteNode() {
        // P = 4 on 2 nodes of 2; rank 0's one token has experts on ranks 2 and 3 (node 1).
        let b = 100
        var parts = (0..<4).map { _ in RankStepTraffic(tokens: 0, chunks: [chunk(tokens: 0, rows: [0, 0, 0, 0], rowBytes: b, tokensToNode: [0, 0], expertRows: [])]) }
        parts[0] = RankStepTraffic(tokens: 1, chunks: [chunk(tokens: 1, rows: [0, 0, 1, 1], rowBytes: b, tokensToNode: [0, 1], expertRows: [])])
        // Combine is what each rank returns: ranks 2 and 3 each return one row to rank 0.
        parts[2].chunks[0].combineBytes = [b, 0, 0, 0]
        parts[3].chunks[0].combineBytes = [b, 0, 0, 0]
        parts[0].chunks[0].combineBytes = [0, 0, 0, 0]
        let step = StepTraffic(ranks: 4, nodes: 2, perRank: parts)
        let shape = ModelShape(hidden: 8, ffn: 8, experts: 4, topK: 2, dispatchRowBytes: b, combineRowBytes: b)
        let flat = AllToAllModel.evaluate(step, chunk: 0, exchange: .dispatch, shape: shape, system: system(g: 2))
        XCTAssertEqual(flat.interNodeBytes, 2 * Int64(b))
        XCTAssertEqual(flat.intraNodeBytes, 0)
        let hier = AllToAllModel.evaluate(step, chunk: 0, exchange: .dispatch, shape: shape, system: system(g: 2, algorithm: .hierarchical))
        XCTAssertEqual(hier.interNodeBytes, Int64(b))
        XCTAssertEqual(hier.intraNodeBytes, Int64(b))  // rank 2 (local index 0, as rank 0) forwards to rank 3
        XCTAssertEqual(hier.linkBytes[0][LinkDirection.nicOut.rawValue], Int64(b))
        XCTAssertEqual(hier.linkBytes[2][LinkDirection.nicIn.rawValue], Int64(b))
        XCTAssertEqual(hier.linkBytes[2][LinkDirection.nvlinkOut.rawValue], Int64(b))
        XCTAssertEqual(hier.linkBytes[3][LinkDirection.nvlinkIn.rawValue], Int64(b))
        XCTAssertLessThan(hier.seconds, flat.seconds)
        // Combine reverses it: rank 3 returns over NVLink to rank 2, which sends one row over the network.
        let back = AllToAllModel.evaluate(step, chunk: 0, exchange: .combine, shape: shape, system: system(g: 2, algorithm: .hierarchical))
        XCTAssertEqual(back.interNodeBytes, Int64(b))
        XCTAssertEqual(back.linkBytes[3][LinkDirection.nvlinkOut.rawValue], Int64(b))
        XCTAssertEqual(back.linkBytes[2][LinkDirection.nicOut.rawValue], Int64(b))
        XCTAssertEqual(back.linkBytes[0][LinkDirection.nicIn.rawValue], Int64(b))
        XCTAssertEqual(back.busiestLink, "rank 0 NIC in")
    }

    func testTimesAreBytesOverAchievedBandwidthPlusLatency() {
        let b = 1_000_000
        let parts = [RankStepTraffic(tokens: 1, chunks: [chunk(tokens: 1, rows: [1, 3], rowBytes: b, tokensToNode: [2], expertRows: [])]),
                     RankStepTraffic(tokens: 1, chunks: [chunk(tokens: 1, rows: [0, 5], rowBytes: b, tokensToNode: [1], expertRows: [])])]
        let step = StepTraffic(ranks: 2, nodes: 1, perRank: parts)
        var s = system()
        s.intraNode = LinkSpec(gbps: 100, efficiency: 0.5, latencyMicros: 10)
        let shape = ModelShape(hidden: 8, ffn: 8, experts: 2, topK: 1, dispatchRowBytes: b, combineRowBytes: b)
        let a = AllToAllModel.evaluate(step, chunk: 0, exchange: .dispatch, shape: shape, system: s)
        XCTAssertEqual(a.selfBytes, Int64(6 * b))
        XCTAssertEqual(a.intraNodeBytes, Int64(3 * b))
        XCTAssertEqual(a.perRankSeconds[0], 10e-6 + 3e6 / 50e9, accuracy: 1e-15)
        XCTAssertEqual(a.perRankSeconds[1], 10e-6 + 3e6 / 50e9, accuracy: 1e-15)
        XCTAssertEqual(a.busiestLink, "rank 0 NVLink out")
        // Only self traffic: no link, no time.
        let own = StepTraffic(ranks: 1, nodes: 1, perRank: [RankStepTraffic(tokens: 1, chunks: [chunk(tokens: 1, rows: [4], rowBytes: b, tokensToNode: [1], expertRows: [])])])
        let o = AllToAllModel.evaluate(own, chunk: 0, exchange: .dispatch, shape: shape, system: s)
        XCTAssertEqual(o.seconds, 0)
        XCTAssertEqual(o.selfBytes, Int64(4 * b))
        XCTAssertEqual(o.busiestLink, "none")
    }

    /// A link's `afterExperts` cost is what a combine pays, on both link classes; a
    /// dispatch pays the link's own, and a link without it charges both alike. Through the
    /// step model too: its combine phase and step move by the difference.
    func testACombinePaysTheLinksCostAfterTheExperts() {
        let b = 1_000_000
        // 4 ranks on 2 nodes of 2; rank 0 sends 2 rows to rank 1 (NVLink) and 3 to rank 2 (NIC); combine mirrored.
        var parts = (0..<4).map { _ in
            RankStepTraffic(tokens: 1, chunks: [chunk(tokens: 1, rows: [0, 0, 0, 0], rowBytes: b, tokensToNode: [0, 0], expertRows: [1])])
        }
        parts[0].chunks[0] = chunk(tokens: 1, rows: [0, 2, 3, 0], rowBytes: b, tokensToNode: [1, 1], expertRows: [1])
        parts[1].chunks[0].combineBytes = [2 * b, 0, 0, 0]
        parts[2].chunks[0].combineBytes = [3 * b, 0, 0, 0]
        let step = StepTraffic(ranks: 4, nodes: 2, perRank: parts)
        let shape = ModelShape(hidden: 8, ffn: 8, experts: 4, topK: 1, dispatchRowBytes: b, combineRowBytes: b)
        var s = system(g: 2)
        s.intraNode = LinkSpec(gbps: 100, efficiency: 0.5, latencyMicros: 10)
        s.interNode = LinkSpec(gbps: 10, latencyMicros: 20)
        let plain = s
        s.intraNode.afterExperts = LinkCost(gbps: 40, latencyMicros: 30)
        s.interNode.afterExperts = LinkCost(gbps: 5, latencyMicros: 50)
        func seconds(_ e: AllToAllModel.Exchange, _ system: SystemSpec) -> [Double] {
            AllToAllModel.evaluate(step, chunk: 0, exchange: e, shape: shape, system: system).perRankSeconds
        }
        // Dispatch: the links' own costs, with or without after_experts.
        XCTAssertEqual(seconds(.dispatch, s), seconds(.dispatch, plain))
        XCTAssertEqual(seconds(.dispatch, s)[0], max(10e-6 + 2e6 / 50e9, 20e-6 + 3e6 / 10e9), accuracy: 1e-15)
        // Combine: rank 0 receives 2 MB over NVLink at 40 × 0.5 GB/s and 3 MB over the NIC at 5 GB/s.
        XCTAssertEqual(seconds(.combine, plain)[0], max(10e-6 + 2e6 / 50e9, 20e-6 + 3e6 / 10e9), accuracy: 1e-15)
        XCTAssertEqual(seconds(.combine, s)[0], max(30e-6 + 2e6 / 20e9, 50e-6 + 3e6 / 5e9), accuracy: 1e-15)
        XCTAssertEqual(seconds(.combine, s)[1], 30e-6 + 2e6 / 20e9, accuracy: 1e-15)
        let before = StepModel.evaluate(step, shape: shape, system: plain)
        let after = StepModel.evaluate(step, shape: shape, system: s)
        XCTAssertEqual(after.perRank[.dispatch], before.perRank[.dispatch])
        let slower = (50e-6 + 3e6 / 5e9) - (20e-6 + 3e6 / 10e9)
        XCTAssertEqual(after.perRank[.combine]![0] - before.perRank[.combine]![0], slower, accuracy: 1e-12)
        XCTAssertEqual(after.stepSeconds - before.stepSeconds, slower, accuracy: 1e-12)
    }

    /// A link with a measured sweep is charged the sweep, interpolated linearly in bytes
    /// between its points: the first point's time at or below it, its bandwidth beyond
    /// the last; `efficiency` stretches what the transfer adds to the first point's
    /// time. A combine reads `afterExperts`' own sweep, and the counts exchange pays the
    /// smallest message.
    func testALinksMeasuredSweepIsInterpolatedInBytes() {
        let points = [LinkTimePoint(bytes: 4_000, micros: 24), LinkTimePoint(bytes: 1_000, micros: 8),
                      LinkTimePoint(bytes: 100_000, micros: 60)]
        var link = LinkSpec(gbps: 10, latencyMicros: 1, sweep: points)
        XCTAssertEqual(link.sweep?.map(\.bytes), [1_000, 4_000, 100_000])  // sorted
        XCTAssertEqual(link.seconds(bytes: 1), 8e-6, accuracy: 1e-15)
        XCTAssertEqual(link.seconds(bytes: 1_000), 8e-6, accuracy: 1e-15)
        XCTAssertEqual(link.seconds(bytes: 2_500), 16e-6, accuracy: 1e-15)  // halfway from 8 to 24
        XCTAssertEqual(link.seconds(bytes: 4_000), 24e-6, accuracy: 1e-15)
        XCTAssertEqual(link.seconds(bytes: 52_000), 42e-6, accuracy: 1e-15)
        // Beyond the last point: 1 MB more at 10 GB/s is 100 µs more.
        XCTAssertEqual(link.seconds(bytes: 1_100_000), 160e-6, accuracy: 1e-15)
        XCTAssertEqual(link.messageSeconds, 8e-6, accuracy: 1e-15)
        link.efficiency = 0.5
        XCTAssertEqual(link.seconds(bytes: 2_500), 8e-6 + 16e-6, accuracy: 1e-15)
        XCTAssertEqual(link.seconds(bytes: 1_100_000), 8e-6 + 104e-6 + 200e-6, accuracy: 1e-15)
        // Without a sweep, the line.
        XCTAssertEqual(LinkSpec(gbps: 10, latencyMicros: 1).seconds(bytes: 2_500), 1e-6 + 0.25e-6, accuracy: 1e-15)
        XCTAssertEqual(LinkSpec(gbps: 10, latencyMicros: 1).messageSeconds, 1e-6, accuracy: 1e-15)
        // A point measured faster than the smallest message is charged the smallest's time.
        let dip = LinkSpec(gbps: 10, latencyMicros: 1, sweep: [LinkTimePoint(bytes: 8, micros: 10),
                                                              LinkTimePoint(bytes: 1_008, micros: 6)])
        XCTAssertEqual(dip.seconds(bytes: 508), 10e-6, accuracy: 1e-15)
        // One point: its time up to its bytes, then the bandwidth.
        let one = LinkSpec(gbps: 10, latencyMicros: 1, sweep: [LinkTimePoint(bytes: 1_000, micros: 5)])
        XCTAssertEqual(one.seconds(bytes: 10), 5e-6, accuracy: 1e-15)
        XCTAssertEqual(one.seconds(bytes: 11_000), 6e-6, accuracy: 1e-15)
        // Assigned out of order, kept sorted; an empty sweep is none (the line).
        var assigned = LinkSpec(gbps: 10, latencyMicros: 1)
        assigned.sweep = [points[2], points[0], points[1]]
        XCTAssertEqual(assigned.sweep?.map(\.bytes), [1_000, 4_000, 100_000])
        XCTAssertEqual(assigned.seconds(bytes: 2_500), 16e-6, accuracy: 1e-15)
        assigned.sweep = []
        XCTAssertNil(assigned.sweep)
        var cost = LinkCost(gbps: 1, latencyMicros: 1, sweep: [])
        XCTAssertNil(cost.sweep)
        cost.sweep = [points[2], points[1]]
        XCTAssertEqual(cost.sweep?.map(\.bytes), [1_000, 100_000])

        // Through the all-to-all and step models: 2 ranks, rank 0 sends 2 rows of 1000 B
        // to rank 1, rank 1 sends none; combine mirrored.
        let b = 1_000
        var parts = [RankStepTraffic(tokens: 2, chunks: [chunk(tokens: 2, rows: [0, 2], rowBytes: b, tokensToNode: [1], expertRows: [0])]),
                     RankStepTraffic(tokens: 2, chunks: [chunk(tokens: 2, rows: [0, 0], rowBytes: b, tokensToNode: [0], expertRows: [2])])]
        parts[0].chunks[0].combineBytes = [0, 0]
        parts[1].chunks[0].combineBytes = [2 * b, 0]
        let step = StepTraffic(ranks: 2, nodes: 1, perRank: parts)
        let shape = ModelShape(hidden: 8, ffn: 8, experts: 2, topK: 1, dispatchRowBytes: b, combineRowBytes: b)
        var s = system(g: 2)
        s.intraNode = LinkSpec(gbps: 10, latencyMicros: 1, afterExperts: LinkCost(gbps: 10, latencyMicros: 1, sweep: [
            LinkTimePoint(bytes: 1_000, micros: 30), LinkTimePoint(bytes: 3_000, micros: 50)]), sweep: points)
        let dispatch = AllToAllModel.evaluate(step, chunk: 0, exchange: .dispatch, shape: shape, system: s)
        XCTAssertEqual(dispatch.seconds, 8e-6 + (2_000 - 1_000) / 3_000 * 16e-6, accuracy: 1e-15)
        let combine = AllToAllModel.evaluate(step, chunk: 0, exchange: .combine, shape: shape, system: s)
        XCTAssertEqual(combine.seconds, 40e-6, accuracy: 1e-15)
        let model = StepModel.evaluate(step, shape: shape, system: s)
        XCTAssertEqual(model.perRank[.dispatch]!.max()!, 8e-6 + dispatch.seconds, accuracy: 1e-15)  // counts, then payload
        XCTAssertEqual(model.perRank[.combine]!.max()!, 40e-6, accuracy: 1e-15)
    }

    func testDoublingNICShortensAnInternodeBoundDispatchOnly() {
        let traffic = DeepEPTraffic(ranks: 16, tokens: 256, seed: 7)
        func dispatch(_ s: SystemSpec) -> Double {
            AllToAllModel.evaluate(traffic.step, chunk: 0, exchange: .dispatch, shape: traffic.shape, system: s).seconds
        }
        let base = dispatch(system(nvlink: 400, nic: 25))
        XCTAssertLessThan(dispatch(system(nvlink: 400, nic: 50)), base * 0.6)
        // NVLink-bound (NVLink slower than the NIC): a faster NIC changes nothing.
        let nvBound = dispatch(system(nvlink: 5, nic: 50))
        XCTAssertEqual(dispatch(system(nvlink: 5, nic: 100)), nvBound)
        // Hierarchical moves fewer network bytes than flat for the same tokens (top-8 of
        // 256 puts several experts of a token on one node).
        let flat = AllToAllModel.evaluate(traffic.step, chunk: 0, exchange: .dispatch, shape: traffic.shape, system: system(nvlink: 400, nic: 50))
        let hier = AllToAllModel.evaluate(traffic.step, chunk: 0, exchange: .dispatch, shape: traffic.shape,
                                          system: system(nvlink: 400, nic: 50, algorithm: .hierarchical))
        XCTAssertLessThan(Double(hier.interNodeBytes), 0.8 * Double(flat.interNodeBytes))
        XCTAssertLessThan(hier.seconds, flat.seconds)
    }

    func testExecutionModesOrderForManySmallExperts() throws {
        var d = try h200().device
        let rows = [Int](repeating: 64, count: 16)
        func time(_ mode: ExecutionMode) -> Double {
            d.execution = mode
            return DeviceModel(device: d).expertSeconds(rows: rows, hidden: 2048, ffn: 768, activation: .swiglu)
        }
        XCTAssertLessThan(time(.graph), time(.loop) / 3)
        XCTAssertLessThan(time(.grouped), time(.graph))
        // Host-bound loop: m · (3 launches + the per-expert loop cost).
        XCTAssertEqual(time(.loop), 16 * (3 * d.launchMicros + d.loopExpertMicros) * 1e-6, accuracy: 1e-12)
        // Large experts: the modes converge (device bound).
        let big = [Int](repeating: 8192, count: 4)
        d.execution = .loop
        let loop = DeviceModel(device: d).expertSeconds(rows: big, hidden: 7168, ffn: 2048, activation: .swiglu)
        d.execution = .graph
        let graph = DeviceModel(device: d).expertSeconds(rows: big, hidden: 7168, ffn: 2048, activation: .swiglu)
        XCTAssertEqual(loop / graph, 1, accuracy: 0.02)
    }

    func testEfficiencyTableIsHonouredAndInterpolatedInLogN() throws {
        let d = try h200().device
        let m = DeviceModel(device: d)
        for p in d.efficiency! {
            XCTAssertEqual(m.ffnDeviceSeconds(rows: p.rows, hidden: p.hidden, ffn: p.ffn, activation: .swiglu),
                           p.milliseconds * 1e-3, accuracy: 1e-12)
        }
        // Between 1024 (0.13362 ms) and 2048 (0.26122 ms): log-midpoint 1448 near the mean.
        let mid = m.ffnDeviceSeconds(rows: 1448, hidden: 7168, ffn: 2048, activation: .swiglu)
        XCTAssertEqual(mid, (0.13362 + 0.26122) / 2 * 1e-3, accuracy: 2e-7)
        // Above the table: linear in n; below: the roofline, never above the smallest point.
        XCTAssertEqual(m.ffnDeviceSeconds(rows: 32768, hidden: 7168, ffn: 2048, activation: .swiglu), 2 * 2.22910e-3, accuracy: 1e-9)
        XCTAssertLessThanOrEqual(m.ffnDeviceSeconds(rows: 256, hidden: 7168, ffn: 2048, activation: .swiglu), 0.07184e-3)
        // Shape not in the table: the roofline at gemm_efficiency.
        XCTAssertEqual(m.ffnDeviceSeconds(rows: 4096, hidden: 1024, ffn: 4096, activation: .swiglu),
                       m.rooflineSeconds(rows: 4096, hidden: 1024, ffn: 4096, activation: .swiglu))
        XCTAssertEqual(m.ffnDeviceSeconds(rows: 0, hidden: 7168, ffn: 2048, activation: .swiglu), 0)
    }

    /// A step of P ranks on one node, `chunks` equal chunks per layer of one big traffic.
    func computeBoundStep(chunks: Int) -> (StepTraffic, ModelShape) {
        let p = 2, rowBytes = 2 * 4096
        let parts = (0..<p).map { _ in
            RankStepTraffic(tokens: 4096, chunks: (0..<chunks).map { _ in
                chunk(tokens: 4096 / chunks, rows: [4096 / chunks, 4096 / chunks], rowBytes: rowBytes, tokensToNode: [8192 / chunks],
                      expertRows: [8192 / chunks, 8192 / chunks])
            })
        }
        let shape = ModelShape(hidden: 4096, ffn: 14336, experts: 4, topK: 2, chunks: chunks, dispatchRowBytes: rowBytes, combineRowBytes: rowBytes)
        return (StepTraffic(ranks: p, nodes: 1, perRank: parts), shape)
    }

    func testChunkedPipelineIsNeverLongerWhenComputeDominates() {
        let s = system(nvlink: 100)  // roofline device, no launches: compute is linear in rows
        let (one, shapeOne) = computeBoundStep(chunks: 1)
        let (four, shapeFour) = computeBoundStep(chunks: 4)
        let a = StepModel.evaluate(one, shape: shapeOne, system: s)
        let b = StepModel.evaluate(four, shape: shapeFour, system: s)
        XCTAssertGreaterThan(a.perRank[.expert]![0], 5 * a.perRank[.dispatch]![0])
        XCTAssertLessThan(b.stepSeconds, a.stepSeconds)
        // Same work in both: the per-rank sums agree.
        XCTAssertEqual(b.perRank[.expert]![0], a.perRank[.expert]![0], accuracy: 1e-12)
        XCTAssertEqual(b.perRank[.dispatch]![0], a.perRank[.dispatch]![0], accuracy: 1e-12)
        // Without chunks the step is the sum of the phases' critical paths.
        let sum = ModeledPhase.allCases.reduce(0.0) { $0 + (a.perRank[$1]!.max() ?? 0) }
        XCTAssertEqual(a.stepSeconds, sum, accuracy: 1e-12)
        XCTAssertEqual(StepModel.evaluate(four, shape: shapeFour, system: s), b)  // deterministic
        let bytesEach: Int64 = 2 * 2 * 4096 * 8192  // dispatch + combine of both ranks
        XCTAssertEqual(a.selfBytes, bytesEach)
        XCTAssertEqual(a.intraNodeBytes, bytesEach)
    }

    func testPipelineFormula() {
        // Communication-bound chunks overlap the compute of their neighbours.
        XCTAssertEqual(StepModel.pipeline(pre: [1], dispatch: [2], compute: [3], combine: [4], post: [5]), 15)
        // Σ pre 2, D_0 2, slots max(1, D_1 2) and max(1, K_0 2), K_1 2, Σ post 2.
        let expected: Double = 12
        XCTAssertEqual(StepModel.pipeline(pre: [1, 1], dispatch: [2, 2], compute: [1, 1], combine: [2, 2], post: [1, 1]), expected)
    }

    func testStepReportsSlowestRankAndBottleneck() {
        let traffic = DeepEPTraffic(ranks: 16, tokens: 128, seed: 3)
        let s = system(nvlink: 200, nic: 50, algorithm: .hierarchical)
        let m = StepModel.evaluate(traffic.step, shape: traffic.shape, system: s)
        let disp = m.perRank[.dispatch]!
        XCTAssertEqual(m.slowestRank[.dispatch], disp.indices.max { disp[$0] < disp[$1] })
        XCTAssertGreaterThan(m.interNodeBytes, 0)
        XCTAssertGreaterThan(m.dispatchBottleneckGBps, 0)
        XCTAssertLessThanOrEqual(m.dispatchBottleneckGBps, 200 + 1e-9)  // a link cannot beat its bandwidth
        XCTAssertTrue(m.busiestLink.hasPrefix("rank "), m.busiestLink)
    }

    func testForwarderOnANodeWithFewerRanksAndRankMap() {
        // P = 3 with G = 2: node 0 holds ranks 0, 1; node 1 holds rank 2 only. Rank 1
        // (local index 1) sends to node 1, whose only rank (index 1 mod 1 = 0) receives it.
        let b = 10
        var parts = (0..<3).map { _ in RankStepTraffic(tokens: 0, chunks: [chunk(tokens: 0, rows: [0, 0, 0], rowBytes: b, tokensToNode: [0, 0], expertRows: [])]) }
        parts[1] = RankStepTraffic(tokens: 1, chunks: [chunk(tokens: 1, rows: [0, 0, 2], rowBytes: b, tokensToNode: [0, 1], expertRows: [])])
        let step = StepTraffic(ranks: 3, nodes: 2, perRank: parts)
        let shape = ModelShape(hidden: 8, ffn: 8, experts: 3, topK: 2, dispatchRowBytes: b, combineRowBytes: b)
        let a = AllToAllModel.evaluate(step, chunk: 0, exchange: .dispatch, shape: shape, system: system(g: 2, algorithm: .hierarchical))
        XCTAssertEqual(a.linkBytes[1][LinkDirection.nicOut.rawValue], Int64(b))  // one token, once
        XCTAssertEqual(a.linkBytes[2][LinkDirection.nicIn.rawValue], Int64(b))
        XCTAssertEqual(a.intraNodeBytes, 0)  // the receiver is the destination: nothing to forward
        // A rank map that puts rank 2 with rank 0 makes the same bytes NVLink traffic.
        var mapped = system(g: 2)
        mapped.rankMap = [0, 1, 0]
        let m = AllToAllModel.evaluate(step, chunk: 0, exchange: .dispatch, shape: shape, system: mapped)
        XCTAssertEqual(m.interNodeBytes, 2 * Int64(b))  // rank 1 is alone on node 1 now
        mapped.rankMap = [0, 0, 0]
        mapped.devicesPerNode = 3
        XCTAssertEqual(AllToAllModel.evaluate(step, chunk: 0, exchange: .dispatch, shape: shape, system: mapped).intraNodeBytes, 2 * Int64(b))
    }
}
