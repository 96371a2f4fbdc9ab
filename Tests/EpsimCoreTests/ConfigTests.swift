import XCTest
import Foundation
@testable import EpsimCore

final class ConfigTests: XCTestCase {
    func testEmptyDocumentGivesDefaults() throws {
        let c = try parse("")
        XCTAssertEqual(c.model, ModelConfig())
        XCTAssertEqual(c.capacity, CapacityConfig())
        XCTAssertEqual(c.workload, .gating)
        XCTAssertEqual(c.steps, 10)
        XCTAssertNil(c.ranks)
    }

    func testFullDocument() throws {
        let c = try parse("""
            ranks: 2
            tokens: [100, 50]
            model: {hidden: 64, ffn: 128, experts: 16, top_k: 4, shared_experts: 1, activation: gelu, layers: 3}
            router: {score: sigmoid, weights: normalized, noise_std: 0.5, groups: 4, groups_per_token: 2, seed: 9}
            workload: {kind: hot, experts: [0, 3], fraction: 0.5}
            capacity: {factor: none, min_capacity: 4, scope: global, priority: slot_position}
            overflow: {policy: reroute, max_reroutes: 3, reroute_scope: same_rank, renormalize: true}
            placement: {kind: explicit, ranks: [[0,1,2,3,4,5,6,7], [8,9,10,11,12,13,14,15]], replicas: [{expert: 0, ranks: [1]}]}
            precision: {dispatch: bf16, combine: fp8_e4m3}
            compute: {mode: modeled, tflops: 50, efficiency: 0.4}
            steps: 3
            warmup_steps: 0
            seed: 77
            """)
        XCTAssertEqual(c.ranks, 2)
        XCTAssertEqual(c.tokens, .perRank([100, 50]))
        XCTAssertEqual(c.model.topK, 4)
        XCTAssertEqual(c.model.activation, .gelu)
        XCTAssertEqual(c.router.score, .sigmoid)
        XCTAssertEqual(c.router.groupsPerToken, 2)
        XCTAssertEqual(c.router.seed, 9)
        XCTAssertEqual(c.workload, .hot(experts: [0, 3], fraction: 0.5))
        XCTAssertNil(c.capacity.factor)
        XCTAssertEqual(c.capacity.scope, .global)
        XCTAssertEqual(c.capacity.priority, .slotPosition)
        XCTAssertEqual(c.overflow.maxReroutes, 3)
        XCTAssertEqual(c.overflow.rerouteScope, .sameRank)
        XCTAssertTrue(c.overflow.renormalize)
        XCTAssertEqual(c.placement.replicas, [.init(expert: 0, ranks: [1])])
        XCTAssertEqual(c.precision.combine, .fp8E4M3)
        XCTAssertEqual(c.compute, .modeled(tflops: 50, efficiency: 0.4))
        XCTAssertEqual(c.seed, 77)
        XCTAssertNoThrow(try ConfigLoader.validate(c, worldSize: 2))
        // The resolved form reads back to the same config.
        let again = try parse(ConfigLoader.resolvedYAML(c))
        XCTAssertEqual(again.model, c.model)
        XCTAssertEqual(again.capacity, c.capacity)
        XCTAssertEqual(again.overflow, c.overflow)
        XCTAssertEqual(again.placement, c.placement)
        XCTAssertEqual(again.workload, c.workload)
        XCTAssertEqual(again.compute, c.compute)
    }

    func testShorthandsAndOverrides() throws {
        let c = try parse("workload: uniform\nplacement: contiguous\ncompute: modeled\n",
                          ["capacity.factor=none", "tokens=[5, 6]", "model.top_k=4", "overflow.policy=reroute",
                           "workload={kind: zipf, exponent: 1.5}"])
        XCTAssertEqual(c.workload, .zipf(exponent: 1.5))
        XCTAssertEqual(c.compute, .modeled(tflops: 100, efficiency: 0.5))
        XCTAssertNil(c.capacity.factor)
        XCTAssertEqual(c.tokens, .perRank([5, 6]))
        XCTAssertEqual(c.model.topK, 4)
        XCTAssertEqual(c.overflow.policy, .reroute)
    }

    func testTracePathsAreRelativeToTheConfig() throws {
        let c = try ConfigLoader.parse(yaml: "workload: {kind: trace, file: logits.npy}", file: "configs/x.yaml")
        XCTAssertEqual(c.workload, .trace(files: ["configs/logits.npy"]))
    }

    // One test per kind of mistake, each pinning the message.

    func testUnknownKeySuggestsNearest() {
        XCTAssertEqual(configErrorMessage("capacty: {factor: 1}"), "t.yaml: capacty: unknown key 'capacty' (did you mean 'capacity'?)")
        XCTAssertEqual(configErrorMessage("overflow: {polcy: drop}"),
                       "t.yaml: overflow.polcy: unknown key 'polcy' (did you mean 'policy'?)")
    }

    func testWrongType() {
        XCTAssertEqual(configErrorMessage("model: {experts: abc}"), "t.yaml: model.experts: expected an integer, got 'abc'")
        XCTAssertEqual(configErrorMessage("model: [1, 2]"), "t.yaml: model: expected a mapping, got a list")
        XCTAssertEqual(configErrorMessage("overflow: {renormalize: maybe}"),
                       "t.yaml: overflow.renormalize: expected true or false, got 'maybe'")
    }

    func testOutOfRange() {
        XCTAssertEqual(configErrorMessage("capacity: {factor: -1}"), "t.yaml: capacity.factor: expected a number in (0, 1e6] or 'none', got -1")
        XCTAssertEqual(configErrorMessage("model: {hidden: 0}"), "t.yaml: model.hidden: expected an integer in [1, 16777216], got 0")
        XCTAssertEqual(configErrorMessage("workload: {kind: hot, experts: [1], fraction: 1.5}"),
                       "t.yaml: workload.fraction: expected a number in (0, 1), got 1.5")
        XCTAssertEqual(configErrorMessage("compute: {mode: modeled, efficiency: 2}"),
                       "t.yaml: compute.efficiency: expected a number in [0.001, 1], got 2")
    }

    func testTopKExceedsExperts() {
        XCTAssertEqual(configErrorMessage("model: {experts: 8, top_k: 9}"), "t.yaml: model.top_k: 9 exceeds model.experts (8)")
    }

    func testBadEnumSuggestsNearest() {
        XCTAssertEqual(configErrorMessage("overflow: {policy: rerout}"),
                       "t.yaml: overflow.policy: expected one of drop, reroute, got 'rerout' (did you mean 'reroute'?)")
    }

    func testRanksMismatch() throws {
        let c = try parse("ranks: 4")
        XCTAssertThrowsError(try ConfigLoader.validate(c, worldSize: 2)) { error in
            XCTAssertEqual("\(error)", "t.yaml: ranks: config expects 4 ranks, but the run has 2; "
                           + "run it with --emulate 4 or mpirun -n 4, or change it with --set ranks=2")
        }
        let t = try parse("tokens: [1, 2, 3]")
        XCTAssertThrowsError(try ConfigLoader.validate(t, worldSize: 2)) { error in
            XCTAssertEqual("\(error)", "t.yaml: tokens: lists 3 ranks, but the run has 2; "
                           + "give one count per rank or run it with --emulate 3 or mpirun -n 3")
        }
    }

    func testOverrideErrorsNameSet() {
        XCTAssertEqual(configErrorMessage("", ["capacity.factr=2"]),
                       "--set capacity.factr=2: capacity.factr: unknown key 'factr' (did you mean 'factor'?)")
        XCTAssertEqual(configErrorMessage("", ["steps=0"]), "--set steps=0: steps: expected an integer in [1, 2147483647], got 0")
        XCTAssertEqual(configErrorMessage("", ["steps"]), "--set: expected key=value, got 'steps'")
    }

    func testMissingFileAndMalformedYAML() throws {
        XCTAssertThrowsError(try ConfigLoader.load(path: "/nonexistent/x.yaml")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/x.yaml: cannot read file: No such file or directory")
        }
        let text = configErrorMessage("model:\n  experts: 8\n  top_k: [2\n")
        XCTAssertTrue(text.hasPrefix("t.yaml: malformed YAML at line "), text)
        XCTAssertEqual(configErrorMessage("steps: 1\nsteps: 2\n"), "t.yaml: duplicate key 'steps' at line 1")
    }

    func testUnreadableOrMisshapedTrace() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("epsim-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("t.npy").path
        try NpyWriter.write(path: path, rows: 10, cols: 6, data: [Float](repeating: 0, count: 60))
        var c = try parse("model: {experts: 8}\ntokens: 4\nworkload: {kind: trace, file: \(path)}")
        XCTAssertThrowsError(try Router(config: c, worldSize: 2)) { error in
            XCTAssertTrue("\(error)".contains("expected 8 columns (model.experts), got 6"), "\(error)")
        }
        c.workload = .trace(files: [dir.appendingPathComponent("missing.npy").path])
        XCTAssertThrowsError(try Router(config: c, worldSize: 2)) { error in
            XCTAssertTrue("\(error)".contains("missing.npy"), "\(error)")
        }
    }

    func testEveryShippedConfigLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = root.appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertGreaterThanOrEqual(files.count, 2)
        for name in files {
            let c = try ConfigLoader.load(path: dir.appendingPathComponent(name).path)
            XCTAssertNoThrow(try ConfigLoader.validate(c, worldSize: c.ranks ?? 4), name)
        }
    }
}
