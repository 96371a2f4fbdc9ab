import XCTest
@testable import EpsimCore

/// One validator: a key's value is checked in one place with one message, whether the
/// config was read by the loader or built in code and handed to the router or the layout.
final class ConfigValidatorTests: XCTestCase {
    /// The loader's error for `yaml` and `overrides`, then `ConfigLoader.validate`'s on
    /// `worldSize` ranks; nil if both accept it.
    private func loaderError(_ yaml: String, _ overrides: [String] = [], worldSize: Int = 1) -> String? {
        validationError(yaml, overrides, worldSize: worldSize)
    }

    /// The error `Router` gives for `c` (built in code, named as "t.yaml") on `worldSize`
    /// ranks; nil if it builds.
    private func routerError(_ c: SimConfig, worldSize: Int = 1) -> String? {
        var c = c
        c.sourcePath = "t.yaml"
        do {
            _ = try Router(config: c, worldSize: worldSize)
            return nil
        } catch { return "\(error)" }
    }

    /// The hot fraction is in (0, 1), as docs/config.md says: 0 and 1 are refused by the
    /// loader and by the router alike, with the same message.
    func testHotFractionIsOpenAtBothEndsForTheLoaderAndTheRouter() throws {
        let refused = [0.0: "0", 1.0: "1", -0.25: "-0.25", 1.5: "1.5", Double.infinity: "inf"]
        for fraction in [0.0, 1.0, -0.25, 1.5, .infinity, 1e-9, 0.5, 0.999] {
            var c = SimConfig()
            c.workload = .hot(experts: [0, 1], fraction: fraction)
            let loader = loaderError("workload: {kind: hot, experts: [0, 1], fraction: \(fraction)}")
            XCTAssertEqual(loader, routerError(c), "fraction \(fraction)")
            if let shown = refused[fraction] {
                XCTAssertEqual(loader, "t.yaml: workload.fraction: expected a number in (0, 1), got \(shown)")
            } else {
                XCTAssertNil(loader, "fraction \(fraction)")
            }
        }
    }

    /// With a fraction below 1, some expert must be cold to take the rest.
    func testEveryExpertHotIsRefusedByBoth() throws {
        var c = SimConfig()
        c.workload = .hot(experts: Array(0..<8), fraction: 0.5)
        let message = "t.yaml: workload.experts: lists all 8 experts (model.experts); at least one must stay cold to take the other 1 − workload.fraction"
        XCTAssertEqual(loaderError("workload: {kind: hot, experts: [0, 1, 2, 3, 4, 5, 6, 7], fraction: 0.5}"), message)
        XCTAssertEqual(routerError(c), message)
        c.workload = .hot(experts: [], fraction: 0.5)
        XCTAssertEqual(routerError(c), "t.yaml: workload.experts: expected at least one expert, got []")
        XCTAssertEqual(loaderError("workload: {kind: hot, experts: [], fraction: 0.5}"), routerError(c))
        c.workload = .hot(experts: [2, 2], fraction: 0.5)
        XCTAssertEqual(routerError(c), "t.yaml: workload.experts: expected distinct experts, got [2, 2]")
        XCTAssertEqual(loaderError("workload: {kind: hot, experts: [2, 2], fraction: 0.5}"), routerError(c))
    }

    /// top_k above E has one message, from the file, from an override of either key, or
    /// from a config built in code; the override named is the one that set a key involved.
    func testTopKHasOneMessage() throws {
        var c = SimConfig()
        c.model.experts = 8
        c.model.topK = 9
        XCTAssertEqual(loaderError("model: {experts: 8, top_k: 9}"), "t.yaml: model.top_k: 9 exceeds model.experts (8)")
        XCTAssertEqual(routerError(c), "t.yaml: model.top_k: 9 exceeds model.experts (8)")
        XCTAssertEqual(loaderError("model: {experts: 8}", ["model.top_k=9"]),
                       "--set model.top_k=9: model.top_k: 9 exceeds model.experts (8)")
        XCTAssertEqual(loaderError("model: {top_k: 2}", ["model.experts=1"]),
                       "--set model.experts=1: model.top_k: 2 exceeds model.experts (1)")
        XCTAssertEqual(loaderError("model: {experts: 1}"), "t.yaml: model.top_k: 2 exceeds model.experts (1)")
        c.model.topK = 0
        XCTAssertEqual(routerError(c), "t.yaml: model.top_k: expected an integer in [1, 65536], got 0")
        XCTAssertEqual(loaderError("model: {experts: 8, top_k: 0}"), routerError(c))
    }

    /// Every rule the router used to check on its own now has the loader's message.
    func testRouterAndLoaderGiveTheSameMessages() throws {
        func both(_ yaml: String, worldSize: Int = 1, _ edit: (inout SimConfig) -> Void) -> String? {
            var c = SimConfig()
            edit(&c)
            let loader = loaderError(yaml, worldSize: worldSize)
            XCTAssertEqual(loader, routerError(c, worldSize: worldSize), yaml)
            return loader
        }
        XCTAssertEqual(both("router: {groups: 3}") { $0.router.groups = 3 },
                       "t.yaml: router.groups: 3 does not divide model.experts (8)")
        XCTAssertEqual(both("router: {groups: 2, groups_per_token: 3}") { $0.router.groups = 2; $0.router.groupsPerToken = 3 },
                       "t.yaml: router.groups_per_token: 3 exceeds router.groups (2)")
        XCTAssertEqual(both("router: {groups: 1, groups_per_token: 2}") { $0.router.groupsPerToken = 2 },
                       "t.yaml: router.groups_per_token: 2 exceeds router.groups (1)")
        XCTAssertEqual(both("model: {top_k: 4}\nrouter: {groups: 4, groups_per_token: 1}") {
            $0.model.topK = 4; $0.router.groups = 4
        }, "t.yaml: router.groups_per_token: 1 groups of 2 experts hold fewer than model.top_k (4)")
        XCTAssertEqual(both("router: {bias: [1, 2, 3]}") { $0.router.bias = [1, 2, 3] },
                       "t.yaml: router.bias: expected 8 entries (model.experts) or none, got 3")
        XCTAssertEqual(both("router: {bias: [0, 0, 0, nan, 0, 0, 0, 0]}") { $0.router.bias = [0, 0, 0, .nan, 0, 0, 0, 0] },
                       "t.yaml: router.bias[3]: expected a number in [-1e6, 1e6], got nan")
        XCTAssertEqual(both("router: {noise_std: 1e39}") { $0.router.noiseStd = 1e39 },
                       "t.yaml: router.noise_std: expected a number in [0, 1000], got 1e39")
        XCTAssertEqual(both("model: {hidden: 0}") { $0.model.hidden = 0 },
                       "t.yaml: model.hidden: expected an integer in [1, 16777216], got 0")
        XCTAssertEqual(both("workload: {kind: zipf, exponent: 0}") { $0.workload = .zipf(exponent: 0) },
                       "t.yaml: workload.exponent: expected a number in (0, 100], got 0")
        XCTAssertEqual(both("tokens: [4, 4, 4]", worldSize: 2) { $0.tokens = .perRank([4, 4, 4]) },
                       "t.yaml: tokens: lists 3 ranks, but the run has 2; give one count per rank or run it with --emulate 3 or mpirun -n 3")
        XCTAssertEqual(both("tokens: [4, -1]", worldSize: 2) { $0.tokens = .perRank([4, -1]) },
                       "t.yaml: tokens[1]: expected an integer in [0, 2147483647], got -1")
    }

    /// Each placement error comes from `ConfigValidator.checkPlacement`: the loader (or,
    /// for those that need the world size, `validate`) raises it with the file, and
    /// `ExpertLayout` the same message without one.
    func testPlacementErrorsComeFromOneCheck() throws {
        let cases: [(String, Int, Bool, String)] = [
            ("{kind: explicit, ranks: [[0, 1, 2, 3], [4, 5, 6, 9]]}", 2, true,
             "placement.ranks[1]: expert 9 is out of range 0..<8"),
            ("{kind: explicit, ranks: [[0, 0, 1, 2, 3], [4, 5, 6, 7]]}", 2, true,
             "placement.ranks[0]: rank 0 lists an expert twice: [0, 0, 1, 2, 3]"),
            ("{kind: contiguous, replicas: [{expert: 8, ranks: [0]}]}", 2, true,
             "placement.replicas[0].expert: expert 8 is out of range 0..<8"),
            ("{kind: explicit, ranks: [[0, 1, 2, 3], [4, 5, 6, 7]]}", 4, false,
             "placement.ranks: explicit placement lists 2 ranks, but the run has 4; give one list per rank or run it with --emulate 2 or mpirun -n 2"),
            ("{kind: contiguous, replicas: [{expert: 0, ranks: [1, 4]}]}", 4, false,
             "placement.replicas[0].ranks: rank 4 is out of range 0..<4"),
            ("{kind: explicit, ranks: [[0, 1, 2], [4, 5, 6, 7]]}", 2, false,
             "placement: expert 3 is not placed on any rank"),
        ]
        for (placement, P, readTime, message) in cases {
            let yaml = "placement: \(placement)"
            if readTime {
                XCTAssertThrowsError(try parse(yaml), placement) { XCTAssertEqual("\($0)", "t.yaml: " + message) }
            } else {
                XCTAssertNoThrow(try parse(yaml), placement)
                XCTAssertEqual(loaderError(yaml, worldSize: P), "t.yaml: " + message)
            }
            XCTAssertEqual(loaderError("", ["placement=\(placement)"], worldSize: P), "--set placement=\(placement): " + message)
            var c = SimConfig()
            c.placement = try XCTUnwrap(decodedPlacement(placement))
            XCTAssertThrowsError(try ExpertLayout(c.placement, experts: 8, ranks: P), placement) {
                XCTAssertEqual("\($0)", message)
            }
        }
    }

    /// The placement of `text` as the loader reads it, unchecked.
    private func decodedPlacement(_ text: String) throws -> PlacementConfig? {
        guard let node = try ConfigNode.parse(text, file: nil) else { return nil }
        return try ConfigLoader.decodePlacement(node, ConfigReader(file: nil))
    }

    /// The resolved config, built from the table, is what the hand-written one gave
    /// (these JSON lines were printed by it): `epsim validate` and result files unchanged.
    func testResolvedConfigIsUnchanged() throws {
        let cases: [(String, String)] = [
            ("",
             #"{"model":{"hidden":256,"ffn":512,"experts":8,"top_k":2,"shared_experts":0,"activation":"swiglu","layers":1},"tokens":512,"router":{"compat":"none","first_choice":"logit","score":"softmax","weights":"softmax_topk","noise_std":0.0,"bias":[],"groups":1,"groups_per_token":1,"seed":null},"workload":{"kind":"gating"},"capacity":{"factor":1.25,"value":"none","min_capacity":0,"rounding":"exact","scope":"local","priority":"score"},"overflow":{"policy":"drop","max_reroutes":"all","reroute_scope":"any","renormalize":false,"renormalize_epsilon":0.0},"placement":{"kind":"contiguous","replicas":[]},"dispatch":{"dedup":"none"},"precision":{"dispatch":"fp32","combine":"fp32"},"compute":{"mode":"real"},"overlap":{"chunks":1},"steps":10,"warmup_steps":2,"seed":"1234","ranks":null}"#),
            ("""
            ranks: 2
            tokens: [100, 50]
            model: {hidden: 64, ffn: 128, experts: 16, top_k: 4, shared_experts: 1, activation: gelu, layers: 3}
            router: {score: sigmoid, weights: normalized, noise_std: 0.5, bias: [0.1, -2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1e5], groups: 4, groups_per_token: 2, seed: 9}
            workload: {kind: hot, experts: [0, 3], fraction: 0.5}
            capacity: {factor: none, min_capacity: 4, scope: global, priority: slot_position}
            overflow: {policy: reroute, max_reroutes: 3, reroute_scope: same_rank, renormalize: true}
            placement: {kind: explicit, ranks: [[0,1,2,3,4,5,6,7], [8,9,10,11,12,13,14,15]], replicas: [{expert: 0, ranks: [1]}]}
            dispatch: {dedup: rank}
            precision: {dispatch: bf16, combine: fp8_e4m3}
            compute: {mode: modeled, tflops: 50, efficiency: 0.4}
            steps: 3
            warmup_steps: 0
            seed: 18446744073709551615
            overlap: {chunks: 3}
            """,
             #"{"model":{"hidden":64,"ffn":128,"experts":16,"top_k":4,"shared_experts":1,"activation":"gelu","layers":3},"tokens":[100,50],"router":{"compat":"none","first_choice":"logit","score":"sigmoid","weights":"normalized","noise_std":0.5,"bias":[0.10000000149011612,-2.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,100000.0],"groups":4,"groups_per_token":2,"seed":"9"},"workload":{"kind":"hot","experts":[0,3],"fraction":0.5},"capacity":{"factor":"none","value":"none","min_capacity":4,"rounding":"exact","scope":"global","priority":"slot_position"},"overflow":{"policy":"reroute","max_reroutes":3,"reroute_scope":"same_rank","renormalize":true,"renormalize_epsilon":0.0},"placement":{"kind":"explicit","ranks":[[0,1,2,3,4,5,6,7],[8,9,10,11,12,13,14,15]],"replicas":[{"expert":0,"ranks":[1]}]},"dispatch":{"dedup":"rank"},"precision":{"dispatch":"bf16","combine":"fp8_e4m3"},"compute":{"mode":"modeled","tflops":50.0,"efficiency":0.4},"overlap":{"chunks":3},"steps":3,"warmup_steps":0,"seed":"18446744073709551615","ranks":2}"#),
            ("workload: {kind: zipf, exponent: 1.25}\ncompute: modeled\nplacement: {replicas: [{expert: 1, ranks: [0, 1]}]}\noverflow: {max_reroutes: all}",
             #"{"model":{"hidden":256,"ffn":512,"experts":8,"top_k":2,"shared_experts":0,"activation":"swiglu","layers":1},"tokens":512,"router":{"compat":"none","first_choice":"logit","score":"softmax","weights":"softmax_topk","noise_std":0.0,"bias":[],"groups":1,"groups_per_token":1,"seed":null},"workload":{"kind":"zipf","exponent":1.25},"capacity":{"factor":1.25,"value":"none","min_capacity":0,"rounding":"exact","scope":"local","priority":"score"},"overflow":{"policy":"drop","max_reroutes":"all","reroute_scope":"any","renormalize":false,"renormalize_epsilon":0.0},"placement":{"kind":"contiguous","replicas":[{"expert":1,"ranks":[0,1]}]},"dispatch":{"dedup":"none"},"precision":{"dispatch":"fp32","combine":"fp32"},"compute":{"mode":"modeled","tflops":100.0,"efficiency":0.5},"overlap":{"chunks":1},"steps":10,"warmup_steps":2,"seed":"1234","ranks":null}"#),
            ("workload: {kind: trace, files: [a.npy, b.npy]}",
             #"{"model":{"hidden":256,"ffn":512,"experts":8,"top_k":2,"shared_experts":0,"activation":"swiglu","layers":1},"tokens":512,"router":{"compat":"none","first_choice":"logit","score":"softmax","weights":"softmax_topk","noise_std":0.0,"bias":[],"groups":1,"groups_per_token":1,"seed":null},"workload":{"kind":"trace","files":["/x/a.npy","/x/b.npy"],"dtype":"auto"},"capacity":{"factor":1.25,"value":"none","min_capacity":0,"rounding":"exact","scope":"local","priority":"score"},"overflow":{"policy":"drop","max_reroutes":"all","reroute_scope":"any","renormalize":false,"renormalize_epsilon":0.0},"placement":{"kind":"contiguous","replicas":[]},"dispatch":{"dedup":"none"},"precision":{"dispatch":"fp32","combine":"fp32"},"compute":{"mode":"real"},"overlap":{"chunks":1},"steps":10,"warmup_steps":2,"seed":"1234","ranks":null}"#)
        ]
        for (yaml, json) in cases {
            let c = try ConfigLoader.parse(yaml: yaml, file: "/x/t.yaml")
            XCTAssertEqual(ConfigLoader.resolvedJSON(c).serialized(indent: 0), json)
            // `epsim validate`'s YAML reads back to the same config.
            if c.ranks != nil {
                XCTAssertEqual(ConfigLoader.resolvedJSON(try ConfigLoader.parse(yaml: ConfigLoader.resolvedYAML(c), file: "/x/t.yaml")),
                               ConfigLoader.resolvedJSON(c))
            }
        }
    }

    /// The keys a mapping may hold are the table's.
    func testLoaderKeysAreTheTables() {
        XCTAssertEqual(ConfigLoader.topKeys, ["model", "tokens", "router", "workload", "capacity", "overflow", "placement",
                                              "dispatch", "precision", "compute", "overlap", "steps", "warmup_steps", "seed", "ranks"])
        XCTAssertEqual(ConfigLoader.workloadKeys, ["kind", "exponent", "experts", "fraction", "rank", "sources", "count", "period", "sigma",
                                                   "file", "files", "topk_ids", "topk_weights", "dtype"])
        XCTAssertEqual(ConfigLoader.replicaKeys, ["expert", "ranks"])
        XCTAssertEqual(ConfigLoader.computeKeys, ["mode", "tflops", "efficiency"])
        XCTAssertEqual(ConfigLoader.dispatchKeys, ["dedup"])
        XCTAssertEqual(configErrorMessage("dispatch: {dedup: ranks}"),
                       "t.yaml: dispatch.dedup: expected one of none, rank, got 'ranks' (did you mean 'rank'?)")
        XCTAssertEqual(configErrorMessage("router: {sed: 1}"), "t.yaml: router.sed: unknown key 'sed' (did you mean 'seed'?)")
    }
}
