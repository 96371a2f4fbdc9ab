import Foundation
import XCTest
import EpsimCore
@testable import EpsimRuntime

/// `epsim estimate` against `epsim run --system` on emulated ranks: the same decisions
/// (routing dump), loads, traffic matrix and `modeled.*` for every shipped config.
final class EstimateTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let system = root.appendingPathComponent("configs/systems/h800-8x-ib400.yaml").path

    /// Every config in configs/, configs/models/ and configs/scale/, with two counted
    /// steps after a warm-up (the estimate skips warm-ups: their draws feed nothing),
    /// at most 48 tokens per rank (the run moves real rows), the experts modeled (their
    /// arithmetic changes no decision with one gating layer or a synthetic workload).
    static func configs() throws -> [String] {
        var paths: [String] = []
        for dir in ["configs", "configs/models", "configs/scale"] {
            let url = root.appendingPathComponent(dir)
            for name in try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() where name.hasSuffix(".yaml") {
                paths.append(url.appendingPathComponent(name).path)
            }
        }
        return paths
    }

    static func overrides(_ path: String, ranks: Int) throws -> [String] {
        let base = try ConfigLoader.load(path: path)
        var o = ["ranks=\(ranks)", "steps=2", "warmup_steps=1", "compute=modeled"]
        if case let .uniform(t) = base.tokens, t > 48 { o.append("tokens=48") }
        if case .perRank = base.tokens { o.append("tokens=48") }
        return o
    }

    /// The figures an estimate must share with the run: routing, traffic (its measured
    /// bandwidths aside) and modeled, as the result JSON writes them.
    static func shared(_ r: RunResult) -> String {
        let json = r.json()
        var traffic: [(String, JSONValue)] = []
        if case let .object(pairs)? = json["traffic"] { traffic = pairs.filter { $0.0 != "bandwidth_gbps" } }
        return JSONValue.object([("routing", json["routing"] ?? .null), ("traffic", .object(traffic)),
                                 ("modeled", json["modeled"] ?? .null)]).serialized()
    }

    static func estimated(_ config: SimConfig, ranks: Int, system: SystemSpec, workers: Int = 2,
                          dump: RoutingDump? = nil) throws -> RunResult {
        let layout = try ExpertLayout(config.placement, experts: config.model.experts, ranks: ranks)
        let e = try Estimator(config: config, layout: layout, system: system, ranks: ranks, workers: workers,
                              dump: dump, progress: nil)
        try e.run()
        try dump?.commit()
        return Estimate.makeResult(e, hostName: "test")
    }

    static func ran(_ config: SimConfig, ranks: Int, system: SystemSpec, dumpPath: String? = nil) throws -> RunResult {
        var options = Simulation.Settings()
        options.system = system
        let settings = options
        final class Box: @unchecked Sendable { var result: RunResult? }
        let box = Box()
        _ = try EmulatedWorld.run(ranks: ranks) { t in
            let dump = try dumpPath.map { try RoutingDump(path: $0, rank: t.rank) }
            if let r = try Simulation.execute(config, transport: t, settings: settings, dump: dump) { box.result = r }
            try dump?.commit()
        }
        var result = try XCTUnwrap(box.result)
        result.modeledOnly = true  // as `run --modeled-only` reports it
        return result
    }

    func testEqualsRunSystemForEveryConfigOnOneToSixteenRanks() throws {
        let system = try SystemSpec.load(path: Self.system)
        var compared = 0, refused: [String] = []
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("epsim-estimate-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for path in try Self.configs() {
            let name = URL(fileURLWithPath: path).lastPathComponent
            // Every world size for the layouts of configs/; a spread for the full-width
            // models (each emulated run moves their real rows).
            let sizes = path.contains("/configs/models/") || path.contains("/configs/scale/") ? [1, 2, 3, 8, 16] : Array(1...16)
            for p in sizes {
                let config = try ConfigLoader.load(path: path, overrides: try Self.overrides(path, ranks: p))
                // A layout the run refuses at P (a placement that does not divide) the
                // estimate refuses too, with the same line.
                var runError: String? = nil
                do { try ConfigValidator.check(config, worldSize: p) } catch { runError = "\(error)" }
                if let runError {
                    XCTAssertThrowsError(try Self.estimated(config, ranks: p, system: system), "\(name) P=\(p)") {
                        XCTAssertTrue(runError.hasSuffix("\($0)"), "\($0) against \(runError)")
                    }
                    refused.append("\(name)@\(p)")
                    continue
                }
                // The dump of a few world sizes, byte for byte.
                let dumped = [1, 3, 16].contains(p)
                let runDump = dir.appendingPathComponent("run.jsonl").path
                let estimateDump = dir.appendingPathComponent("estimate.jsonl").path
                let run = try Self.ran(config, ranks: p, system: system, dumpPath: dumped ? runDump : nil)
                let estimate = try Self.estimated(config, ranks: p, system: system, workers: 1 + p % 3,
                                                  dump: dumped ? try RoutingDump(path: estimateDump, rank: 0) : nil)
                XCTAssertEqual(Self.shared(estimate), Self.shared(run), "\(name) on \(p) ranks")
                XCTAssertEqual(estimate.terminalReportBody, run.terminalReportBody, "\(name) on \(p) ranks")
                if dumped {
                    let a = try Data(contentsOf: URL(fileURLWithPath: runDump))
                    let b = try Data(contentsOf: URL(fileURLWithPath: estimateDump))
                    XCTAssertFalse(a.isEmpty)
                    XCTAssertEqual(a, b, "\(name) on \(p) ranks: routing dumps differ")
                }
                compared += 1
            }
        }
        // Every shipped layout was compared on most world sizes.
        XCTAssertGreaterThan(compared, 150, "refused: \(refused)")
    }

    /// The paths a shipped config may not take: global capacity rounds (with reroute and
    /// without), replicas, deduplicated dispatch, overlap chunks, uneven tokens, several
    /// nodes of a rank_map, a trace workload.
    func testEqualsRunOnGlobalRoundsReplicasDedupChunksAndUnevenTokens() throws {
        let system = try SystemSpec.load(path: Self.system)
        let variants: [[String]] = [
            ["capacity.scope=global", "overflow.policy=reroute"],
            ["capacity.scope=global", "overflow.policy=drop", "capacity.priority=position"],
            ["capacity.scope=global", "overflow.policy=reroute", "overflow.reroute_scope=same_rank"],
            ["dispatch.dedup=rank", "overlap.chunks=3", "overflow.policy=reroute"],
            ["capacity.factor=0.5", "overflow.renormalize=true", "capacity.priority=slot_position"],
            ["capacity.factor=none", "dispatch.dedup=rank"],
        ]
        for variant in variants {
            for p in [1, 2, 3, 5, 8] {
                var config = try ConfigLoader.parse(yaml: """
                    tokens: 40
                    model: {hidden: 16, ffn: 32, experts: 8, top_k: 2, layers: 2}
                    workload: {kind: zipf, exponent: 1.3}
                    capacity: {factor: 1.0}
                    compute: {mode: modeled}
                    steps: 2
                    warmup_steps: 1
                    seed: 5
                    """, file: nil, overrides: variant + ["ranks=\(p)"])
                config.tokens = .perRank((0..<p).map { 20 + 7 * $0 })
                if p > 1 { config.placement.replicas = [.init(expert: 0, ranks: [0, p - 1])] }
                try ConfigValidator.check(config, worldSize: p)
                let run = try Self.ran(config, ranks: p, system: system)
                let estimate = try Self.estimated(config, ranks: p, system: system, workers: 2)
                XCTAssertEqual(Self.shared(estimate), Self.shared(run), "\(variant) on \(p) ranks")
                if config.capacity.scope == .global && p > 1 {
                    XCTAssertGreaterThan(estimate.total.exchangeRounds, 0, "\(variant): the rounds ran")
                }
            }
        }
    }

    /// Worker threads change nothing but the time.
    func testThreadsDoNotChangeTheResult() throws {
        let system = try SystemSpec.load(path: Self.system)
        let path = Self.root.appendingPathComponent("configs/skewed.yaml").path
        let config = try ConfigLoader.load(path: path, overrides: try Self.overrides(path, ranks: 12))
        let one = Self.shared(try Self.estimated(config, ranks: 12, system: system, workers: 1))
        for w in [2, 5, 12, 40] {
            XCTAssertEqual(Self.shared(try Self.estimated(config, ranks: 12, system: system, workers: w)), one, "\(w) workers")
        }
    }

    /// Checked by the comparison itself: a deliberately different estimate is seen.
    func testTheComparisonSeesADifference() throws {
        let system = try SystemSpec.load(path: Self.system)
        let path = Self.root.appendingPathComponent("configs/skewed.yaml").path
        let config = try ConfigLoader.load(path: path, overrides: try Self.overrides(path, ranks: 4))
        var other = config
        other.seed += 1
        XCTAssertNotEqual(Self.shared(try Self.estimated(other, ranks: 4, system: system)),
                          Self.shared(try Self.ran(config, ranks: 4, system: system)))
        other = config
        other.precision.dispatch = config.precision.dispatch == .fp8E4M3 ? .bf16 : .fp8E4M3
        XCTAssertNotEqual(Self.shared(try Self.estimated(other, ranks: 4, system: system)),
                          Self.shared(try Self.ran(config, ranks: 4, system: system)))
    }
}

extension RunResult {
    /// The report without its first line (transport) and the lines that hold this
    /// process's memory or the estimate's own time.
    var terminalReportBody: String {
        terminalReport().split(separator: "\n").dropFirst()
            .filter { !$0.contains("peak RSS") && !$0.hasPrefix("estimate:") && !$0.hasPrefix("WARNING") }
            .joined(separator: "\n")
    }
}

/// DeepEP's internode rows (configs/deepep/): the estimate gives the run's numbers, and
/// at full size DeepEP's bandwidth within the model's bound of the published table.
final class EstimateDeepEPTests: XCTestCase {
    /// deepseek-ai/DeepEP README (normal kernels, H800, CX7 400 Gb/s): RDMA GB/s.
    static let published: [Int: (dispatch: Double, combine: Double)] = [16: (43, 43), 32: (58, 57), 64: (51, 50)]

    func testEP16To64EqualRunAndMatchDeepEPsTable() throws {
        let system = try SystemSpec.load(path: EstimateTests.system)
        for ep in [16, 32, 64] {
            let path = EstimateTests.root.appendingPathComponent("configs/deepep/ep\(ep).yaml").path
            // The run moves real rows: 64 tokens per rank keep 64 emulated ranks small.
            let small = try ConfigLoader.load(path: path, overrides: ["tokens=64"])
            let run = try EstimateTests.ran(small, ranks: ep, system: system)
            let estimate = try EstimateTests.estimated(small, ranks: ep, system: system)
            XCTAssertEqual(EstimateTests.shared(estimate), EstimateTests.shared(run), "EP\(ep)")
            XCTAssertEqual(estimate.modeled?.deepEPDispatchGBps, run.modeled?.deepEPDispatchGBps)
            // Full size (4096 tokens per rank), estimate only.
            let full = try EstimateTests.estimated(try ConfigLoader.load(path: path), ranks: ep, system: system)
            let modeled = try XCTUnwrap(full.modeled)
            let want = try XCTUnwrap(Self.published[ep])
            for (got, published, name) in [(modeled.deepEPDispatchGBps, want.dispatch, "dispatch"),
                                            (modeled.deepEPCombineGBps, want.combine, "combine")] {
                XCTAssertLessThan(abs(got - published) / published, 0.20, "EP\(ep) \(name): \(got) GB/s against \(published)")
            }
        }
    }
}
