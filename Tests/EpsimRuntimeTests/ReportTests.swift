import Foundation
import XCTest
import EpsimCore
@testable import EpsimRuntime

/// The reports: result JSON keys, per-step and per-rank figures against the layer's own
/// counters, the traffic matrix against the bytes sent, the CSV and trace files, and the
/// terminal report's text for a fixed seed.
final class ReportTests: XCTestCase {

    /// A small skewed layout on 4 emulated ranks: drops, reroutes and uneven load.
    private func config(policy: OverflowPolicy = .drop, layers: Int = 2) -> SimConfig {
        var c = SimConfig()
        c.model.hidden = 32
        c.model.ffn = 64
        c.model.experts = 8
        c.model.topK = 2
        c.model.layers = layers
        c.tokens = .perRank([64, 48, 64, 80])
        c.workload = .zipf(exponent: 1.2)
        c.capacity.factor = 1.0
        c.overflow.policy = policy
        c.steps = 3
        c.warmupSteps = 1
        c.seed = 7
        return c
    }

    private func run(_ c: SimConfig, ranks: Int = 4, settings: Simulation.Settings = .init()) throws -> RunResult {
        try emulatedResult(c, ranks: ranks, settings: settings)
    }

    /// The value at a dotted path of a JSONValue document.
    private func lookup(_ doc: JSONValue, _ path: String) -> JSONValue? {
        var node: JSONValue? = doc
        for key in path.split(separator: ".") { node = node?[String(key)] }
        return node
    }

    /// The layout line says how C is set: a factor (with DeepSpeed's float32 rounding
    /// named), C itself (`capacity.value`), or no limit.
    func testLayoutLineSaysHowCapacityIsSet() {
        var c = CapacityConfig()
        XCTAssertEqual(c.layoutText, "cf 1.25")
        c.rounding = .float32
        XCTAssertEqual(c.layoutText, "cf 1.25 float32")
        c.factor = nil
        XCTAssertEqual(c.layoutText, "cf none")
        c.value = 16
        XCTAssertEqual(c.layoutText, "C 16")
    }

    func testSchemaHoldsEveryDocumentedKey() throws {
        let json = try run(config(), settings: .init(verify: true)).json()
        let keys = [
            "schema", "epsim_version", "config.model.experts", "environment.transport", "environment.ranks",
            "environment.hosts", "environment.versions.epsim", "environment.versions.communication",
            "environment.versions.blas", "steps.counted", "steps.warmup", "steps.layers",
            "routing.assignments", "routing.accepted", "routing.rerouted", "routing.dropped",
            "routing.drop_rate", "routing.reroute_rate", "routing.dropped_weight", "routing.dropped_weight_share",
            "routing.expert_load", "routing.expert_imbalance", "routing.rank_load", "routing.rank_imbalance",
            "routing.capacity", "routing.aux_loss", "routing.importance_cv2", "routing.accounting_closes",
            "routing.per_rank", "routing.per_step", "phases.communication_share", "phases.compute_share",
            "phases.samples", "traffic.bytes", "traffic.dispatch_bytes", "traffic.combine_bytes",
            "traffic.total_bytes", "traffic.off_rank_bytes", "traffic.self_bytes", "traffic.sent_per_rank",
            "traffic.received_per_rank", "traffic.bandwidth_gbps.dispatch", "traffic.bandwidth_gbps.combine",
            "compute.expert_gflops", "compute.expert_gflops_per_rank", "memory.peak_rss_bytes",
            "memory.peak_rss_bytes_per_rank", "verification.decisions_match", "verification.max_rel_error",
            "verification.passed",
        ] + Phase.allCases.flatMap { p in
            ["median_ms", "min_ms", "max_ms", "slowest_rank", "share_of_step", "per_rank_mean_ms"].map { "phases.\(p).\($0)" }
        }
        for key in keys { XCTAssertNotNil(lookup(json, key), "missing \(key)") }
        XCTAssertEqual(json["schema"], .string("epsim.result/1"))
        XCTAssertEqual(lookup(json, "verification.passed"), .bool(true))
    }

    func testPerStepAndPerRankFiguresEqualTheLayersCounters() throws {
        for policy in OverflowPolicy.allCases {
            let c = config(policy: policy)
            let r = try run(c)
            let m = r.metrics
            // Accounting: the per-step and per-rank figures add up to the totals, which
            // are T·k per layer and step.
            let tokens = [64, 48, 64, 80]
            XCTAssertEqual(r.total.assignments, Int64(tokens.reduce(0, +) * 2 * c.model.layers * c.steps))
            XCTAssertTrue(r.total.closes)
            var accepted = 0.0, rerouted = 0.0, dropped = 0.0, assignments = 0.0
            for s in 0..<c.steps {
                assignments += m.sum(.assignments, step: s)
                accepted += m.sum(.accepted, step: s)
                rerouted += m.sum(.rerouted, step: s)
                dropped += m.sum(.dropped, step: s)
                // The global expert load of a step is what the ranks' experts computed.
                XCTAssertEqual(m.expertLoad(step: s).reduce(0, +), m.rankLoad(step: s).reduce(0, +))
            }
            XCTAssertEqual(assignments, Double(r.total.assignments))
            XCTAssertEqual(accepted, Double(r.total.accepted))
            XCTAssertEqual(rerouted, Double(r.total.rerouted))
            XCTAssertEqual(dropped, Double(r.total.dropped))
            XCTAssertGreaterThan(dropped + rerouted, 0, "the layout must overflow for this test to mean anything")
            // Rows computed = kept assignments; expert load per step sums to the total.
            XCTAssertEqual(m.rankLoad.reduce(0, +), Double(r.total.accepted + r.total.rerouted))
            let load = (0..<c.steps).map(m.expertLoad(step:)).reduce(into: [Double](repeating: 0, count: 8)) {
                for e in 0..<8 { $0[e] += $1[e] }
            }
            XCTAssertEqual(load, r.total.expertLoad.map(Double.init))
            for rank in 0..<4 {
                XCTAssertEqual(m.total(.tokens, rank: rank), Double(tokens[rank] * c.model.layers * c.steps))
                XCTAssertEqual(m.total(.assignments, rank: rank), Double(r.perRank[rank].assignments))
            }
            // Capacity with local scope: ceil(T_r · k / E · cf) per rank.
            XCTAssertEqual(m.capacity, tokens.map { ($0 * 2 + 7) / 8 })
            XCTAssertEqual(r.total.droppedWeightShare, r.total.droppedWeight / r.total.totalWeight, accuracy: 1e-12)
            XCTAssertEqual(r.total.dropped > 0, r.total.droppedWeight > 0)
        }
    }

    func testTrafficMatrixSumsToTheBytesSentAndReceived() throws {
        let c = config(policy: .reroute)
        let r = try run(c)
        let m = r.metrics
        let row = Int64(WireCodec.bytesPerRow(.fp32, hidden: c.model.hidden))
        XCTAssertEqual(r.traffic.totalBytes, Int64(m.bytesSent.reduce(0, +)))
        XCTAssertEqual(r.traffic.totalBytes, (r.total.accepted + r.total.rerouted) * 2 * row)
        for rank in 0..<4 {
            XCTAssertEqual(r.traffic.sentPerRank[rank], Int64(m.bytesSent[rank]))
            XCTAssertEqual(r.traffic.receivedPerRank[rank], Int64(m.bytesReceived[rank]))
            XCTAssertEqual(r.traffic.bytes[rank][rank], Int64(m.selfBytes[rank]))
        }
        XCTAssertEqual(r.traffic.offRankBytes + Int64(m.selfBytes.reduce(0, +)), r.traffic.totalBytes)
        // Per-step bytes add up to the matrix.
        let perStep = (0..<c.steps).reduce(0.0) { $0 + m.sum(.bytesSent, step: $1) }
        XCTAssertEqual(Int64(perStep), r.traffic.totalBytes)
    }

    func testLoadBalancingFigures() throws {
        XCTAssertEqual(LoadStatistics.cv2([1.0, 1, 1, 1]), 0)
        XCTAssertEqual(LoadStatistics.cv2([2.0, 0]), 1)
        XCTAssertEqual(LoadStatistics.imbalance([1.0, 3]), 1.5)
        // Uniform routing: f_i and P_i near 1/E, so the Switch loss is near 1; skewed
        // routing pushes it up.
        var uniform = config()
        uniform.workload = .uniform
        let u = try run(uniform).metrics, z = try run(config()).metrics
        XCTAssertEqual(u.auxLoss, 1, accuracy: 0.1)
        XCTAssertGreaterThan(z.auxLoss, u.auxLoss + 0.2)
        XCTAssertGreaterThan(z.importanceCV2, u.importanceCV2)
    }

    func testCSVAndTraceHoldEveryStepRankAndPhase() throws {
        let c = config()
        let r = try run(c, settings: .init(sync: true, trace: true))
        let csv = ResultFiles.csv(r).split(separator: "\n")
        XCTAssertEqual(csv.first, "step,rank,phase,milliseconds")
        XCTAssertEqual(csv.count, 1 + c.steps * 4 * Phase.allCases.count)
        XCTAssertTrue(csv.contains { $0.hasPrefix("2,3,wait,") })

        let data = Data(ResultFiles.trace(r).utf8)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let events = try XCTUnwrap(doc["traceEvents"] as? [[String: Any]])
        let slices = events.filter { $0["ph"] as? String == "X" }
        XCTAssertEqual(Set(slices.compactMap { $0["tid"] as? Int }), [0, 1, 2, 3])
        // Per rank and step: the step slice, and per layer route, permute ×3 (decisions,
        // pack, unpack), wait ×2, dispatch, expert, unpermute ×2, combine, shared.
        XCTAssertEqual(slices.count, 4 * c.steps * (1 + 12 * c.model.layers))
        let names = events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == "thread_name" }
        XCTAssertEqual(names.count, 4)
        for slice in slices {
            let ts = try XCTUnwrap(slice["ts"] as? Double), dur = try XCTUnwrap(slice["dur"] as? Double)
            XCTAssertGreaterThanOrEqual(ts, 0)
            XCTAssertGreaterThanOrEqual(dur, 0)
        }
        // Each step slice covers its phases.
        for rank in 0..<4 {
            for step in 0..<c.steps {
                let mine = slices.filter { $0["tid"] as? Int == rank && ($0["args"] as? [String: Any])?["step"] as? Int == step }
                let whole = try XCTUnwrap(mine.first { $0["name"] as? String == "step" })
                let start = whole["ts"] as! Double, end = start + (whole["dur"] as! Double)
                for s in mine {
                    XCTAssertGreaterThanOrEqual(s["ts"] as! Double, start - 1e-3)
                    XCTAssertLessThanOrEqual((s["ts"] as! Double) + (s["dur"] as! Double), end + 1e-3)
                }
            }
        }
    }

    func testTraceKeepsEveryStepWithOverlap() throws {
        // More intervals per step with overlap: none may be lost, the step slice least.
        var c = config()
        c.overlapChunks = 3
        let r = try run(c, settings: .init(sync: true, trace: true))
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ResultFiles.trace(r).utf8)) as? [String: Any])
        let slices = try XCTUnwrap(doc["traceEvents"] as? [[String: Any]]).filter { $0["ph"] as? String == "X" }
        let steps = slices.filter { $0["name"] as? String == "step" }
        XCTAssertEqual(steps.count, 4 * c.steps)
        // Per layer and chunk: pack, wait, dispatch start and wait, unpack, expert,
        // encode, wait, combine start and wait, unpack.
        XCTAssertEqual(slices.count, 4 * c.steps * (1 + c.model.layers * (3 + 11 * 3)))
    }

    /// Digits that depend on timing or on the machine become `#`.
    private func masked(_ report: String) -> String {
        let timed = Phase.allCases.map { "\($0)  " } + ["time:", "experts:"]
        return report.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var text = String(line)
            var cut = text.startIndex
            if timed.contains(where: { text.hasPrefix($0) }) {
                cut = text.firstIndex(of: " ") ?? text.endIndex
            } else if let bandwidth = text.range(of: "bandwidth") {
                cut = bandwidth.lowerBound
            } else {
                return text
            }
            var out = String(text[..<cut]), inNumber = false
            for ch in text[cut...] {
                if ch.isNumber || (inNumber && ch == ".") {
                    if !inNumber { out.append("#") }
                    inNumber = true
                } else {
                    inNumber = false
                    out.append(ch)
                }
            }
            text = out
            return text
        }.joined(separator: "\n")
    }

    /// Capacity per rank is ceil(T_r·2/8) = 16, 12, 16, 20, so each expert keeps at most
    /// 64 per step and 192 over 3 steps; 1056 kept rows × 2 directions × 128 B = 264 KiB.
    func testTerminalReportTextForAFixedSeed() throws {
        var c = config(layers: 1)
        c.sourcePath = "small.yaml"
        // The peak RSS is the test process's, whatever ran in it before: its unit too.
        let report = masked(try run(c).terminalReport())
            .replacingOccurrences(of: "peak RSS # [KMG]iB", with: "peak RSS # MiB", options: .regularExpression)
        let expected = """
            epsim 0.1.0 · small.yaml · emulated, 4 ranks on 1 host
            layout: 8 experts top-2 on 4 ranks · H 32 F 64 swiglu · 1 layer(s) · zipf workload · cf 1.00 local score · drop
            steps: 3 counted after 1 warm-up · fp32 dispatch, fp32 combine
            phase        median ms     min ms     max ms  slowest rank (ms)   share
            route            #      #      #             # (#)   #%
            permute          #      #      #             # (#)   #%
            dispatch         #      #      #             # (#)   #%
            expert           #      #      #             # (#)   #%
            combine          #      #      #             # (#)   #%
            unpermute        #      #      #             # (#)   #%
            shared           #      #      #             # (#)   #%
            step             #      #      #             # (#)   #%
            time: communication #% · compute #% (experts #%, routing and permutation #%) · outside phases #%
            routing: drop 31.25% · reroute 0.00% · weight lost 21.09% · imbalance expert 1.45 rank 1.45 · aux loss 1.484 · importance CV² 0.706
            expert load: 192 192 176 152 103 77 91 73
            expert demand: 522 311 206 153 103 77 91 73
            zero-drop capacity factor: 3.000 (per step 2.875 to 3.000) · configured 1.000
            traffic: 264.00 KiB (196.50 KiB between ranks) · bandwidth dispatch # GB/s combine # GB/s per rank (waiting for peers included)
            experts: # GFLOP/s measured · peak RSS # MiB
            accounting: 1536 assignments = 1056 accepted + 0 rerouted + 480 dropped on every rank: yes
            """
        XCTAssertEqual(report.replacingOccurrences(of: " +", with: " ", options: .regularExpression),
                       expected.replacingOccurrences(of: " +", with: " ", options: .regularExpression))
    }
}

/// The bench's memory check: high-water growth in the first half of the extra steps is
/// flat, growth in the second half beyond max(1 MiB, 1%) is not.
final class MemoryCheckTests: XCTestCase {
    func testOnlyTheSecondHalfMustBeFlat() {
        let mib: Int64 = 1 << 20
        func check(_ before: Int64, _ middle: Int64, _ after: Int64) -> Bool {
            Bench.MemoryCheck(steps: 1000, residentBefore: before * mib, residentMiddle: middle * mib,
                              residentAfter: after * mib).isFlat
        }
        XCTAssertTrue(check(114, 117, 117))     // buffers reached a new high-water mark early
        XCTAssertFalse(check(100, 103, 106))    // a leak: it grows in both halves
        XCTAssertFalse(check(100, 100, 102))    // 2 MiB late growth on 100 MiB: beyond max(1 MiB, 1%)
        XCTAssertTrue(check(400, 400, 403))     // 3 MiB on 400 MiB is within 1%
        XCTAssertFalse(check(400, 400, 405))
    }
}

/// The bench's first-lines warning: more ranks than cores, or a busy host.
final class BenchHostWarningTests: XCTestCase {
    func testWarnsOfOversubscriptionAndLoad() {
        XCTAssertNil(BenchReport.hostWarning(ranksOnHost: 2, host: HostLoad(loadAverage: 0.3, cores: 2)))
        XCTAssertNil(BenchReport.hostWarning(ranksOnHost: 2, host: HostLoad(loadAverage: nil, cores: 2)))
        XCTAssertEqual(BenchReport.hostWarning(ranksOnHost: 4, host: HostLoad(loadAverage: 0.2, cores: 2)),
                       "WARNING: 4 ranks on 2 cores: ranks wait for a core, and the ratios measure the scheduler too")
        XCTAssertEqual(BenchReport.hostWarning(ranksOnHost: 2, host: HostLoad(loadAverage: 1.5, cores: 2)),
                       "WARNING: load average 1.50 on 2 cores before the run: the host was busy, so run again when it is quiet")
        XCTAssertEqual(BenchReport.hostWarning(ranksOnHost: 16, host: HostLoad(loadAverage: 4, cores: 2))?.components(separatedBy: "; ").count, 2)
    }
}
