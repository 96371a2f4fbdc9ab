import XCTest
@testable import EpsimCore

/// `router.compat` presets, `capacity.rounding`, `capacity.value` and
/// `overflow.renormalize_epsilon` (issue 16): what each preset sets, that written keys
/// override it, the messages for bad values, and the two repros with DeepSpeed's
/// values under the preset and epsim's own without it.
final class CompatPresetTests: XCTestCase {
    /// The keys a preset sets, as `epsim validate` prints them (resolved YAML lines).
    func resolvedLines(_ yaml: String, _ overrides: [String] = []) throws -> Set<String> {
        let text = ConfigLoader.resolvedYAML(try parse(yaml, overrides))
        return Set(text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    func testEachPresetSetsEveryEquivalentKeyAndValidatePrintsIt() throws {
        let eps = "renormalize_epsilon: 1.1920928955078125e-07"
        let expected: [(String, Int, [String])] = [
            ("deepspeed_top1", 1, ["score: softmax", "first_choice: float32_score", "weights: raw", "priority: position", "policy: drop",
                                   "renormalize: false", "renormalize_epsilon: 0.0", "min_capacity: 4", "rounding: float32"]),
            ("deepspeed_top2", 2, ["score: softmax", "first_choice: float32_score", "weights: raw", "priority: slot_position", "policy: drop",
                                   "renormalize: true", eps, "min_capacity: 4", "rounding: float32"]),
            ("deepspeed_topk", 3, ["score: softmax", "first_choice: logit", "weights: raw", "priority: score", "policy: drop",
                                   "renormalize: true", eps, "min_capacity: 4", "rounding: float32"]),
            ("megatron", 2, ["score: softmax", "first_choice: logit", "weights: softmax_topk", "priority: score", "policy: drop",
                             "renormalize: false", "renormalize_epsilon: 0.0", "min_capacity: 0", "rounding: exact"]),
        ]
        // Start from values every preset changes, so that a key the preset forgot shows.
        let base = """
            router: {score: sigmoid, weights: normalized}
            overflow: {policy: reroute, renormalize: true, renormalize_epsilon: 0.5}
            capacity: {min_capacity: 9, priority: position, rounding: float32}
            """
        for (preset, k, lines) in expected {
            let got = try resolvedLines("model: {top_k: \(k)}", ["router.compat=\(preset)"])
            XCTAssertTrue(got.contains("compat: \(preset)"), preset)
            for line in lines { XCTAssertTrue(got.contains(line), "\(preset): \(line) not in \(got.sorted())") }
            // Written keys win over the preset, whether the preset comes first or last.
            let written = try parse(base + "\nmodel: {top_k: \(k)}", ["router.compat=\(preset)"])
            XCTAssertEqual(written.router.compat.rawValue, preset)
            XCTAssertEqual(written.router.score, .sigmoid, preset)
            XCTAssertEqual(written.router.weights, .normalized, preset)
            XCTAssertEqual(written.overflow.policy, .reroute, preset)
            XCTAssertEqual(written.overflow.renormalizeEpsilon, 0.5, preset)
            XCTAssertEqual(written.capacity.minCapacity, 9, preset)
            XCTAssertEqual(written.capacity.priority, .position, preset)
            XCTAssertEqual(written.capacity.rounding, .float32, preset)
        }
        // Without a preset: epsim's defaults.
        let none = try resolvedLines("")
        for line in ["compat: none", "first_choice: logit", "weights: softmax_topk", "priority: score", "renormalize: false",
                     "renormalize_epsilon: 0.0", "min_capacity: 0", "rounding: exact", "value: none", "factor: 1.25"] {
            XCTAssertTrue(none.contains(line), "\(line) not in \(none.sorted())")
        }
    }

    func testAnOverrideBesideThePresetWins() throws {
        let c = try parse("router: {compat: deepspeed_top2}", ["capacity.rounding=exact", "capacity.min_capacity=0"])
        XCTAssertEqual(c.capacity.rounding, .exact)
        XCTAssertEqual(c.capacity.minCapacity, 0)
        XCTAssertEqual(c.capacity.priority, .slotPosition)
        XCTAssertEqual(c.router.weights, .raw)
    }

    /// A key beside the preset that changes one of its values is named (a copy of a
    /// config that spells out epsim's defaults undoes part of the preset); one that
    /// repeats the preset's value is not.
    func testKeysThatWinOverThePresetAreNamed() throws {
        let copied = try parse("router: {compat: deepspeed_top2, weights: softmax_topk}\ncapacity: {priority: score, factor: 1.0}")
        XCTAssertEqual(CompatPreset.overrides(in: copied), [
            .init(key: "router.weights", value: "softmax_topk", presetValue: "raw"),
            .init(key: "capacity.priority", value: "score", presetValue: "slot_position"),
        ])
        XCTAssertEqual(CompatPreset.overrideNotice(copied),
                       "router.compat deepspeed_top2: router.weights softmax_topk, capacity.priority score are set beside it "
                       + "and win over the preset's raw, slot_position (remove those keys to route as the peer does)")
        let repeated = try parse("router: {compat: deepspeed_top2, weights: raw}", ["capacity.priority=slot_position"])
        XCTAssertEqual(CompatPreset.overrides(in: repeated), [])
        XCTAssertNil(CompatPreset.overrideNotice(repeated))
        let one = try parse("router: {compat: megatron}", ["capacity.min_capacity=4"])
        XCTAssertEqual(CompatPreset.overrideNotice(one),
                       "router.compat megatron: capacity.min_capacity 4 is set beside it and wins over the preset's 0 "
                       + "(remove that key to route as the peer does)")
        XCTAssertNil(CompatPreset.overrideNotice(try parse("router: {weights: raw}")))
    }

    func testBadPresetValues() {
        XCTAssertEqual(configErrorMessage("router: {compat: deepspeed_top3}"),
                       "t.yaml: router.compat: expected one of none, deepspeed_top1, deepspeed_top2, deepspeed_topk, megatron, got 'deepspeed_top3' (did you mean 'deepspeed_top1'?)")
        XCTAssertEqual(configErrorMessage("router: {compat: megatorn}"),
                       "t.yaml: router.compat: expected one of none, deepspeed_top1, deepspeed_top2, deepspeed_topk, megatron, got 'megatorn' (did you mean 'megatron'?)")
        XCTAssertEqual(configErrorMessage("model: {top_k: 2}\nrouter: {compat: deepspeed_top1}"),
                       "t.yaml: router.compat: deepspeed_top1 is DeepSpeed's top-1 gate, but model.top_k is 2 (did you mean 'deepspeed_top2'?)")
        XCTAssertEqual(configErrorMessage("model: {top_k: 4}", ["router.compat=deepspeed_top2"]),
                       "--set router.compat=deepspeed_top2: router.compat: deepspeed_top2 is DeepSpeed's top-2 gate, but model.top_k is 4 (did you mean 'deepspeed_topk'?)")
        XCTAssertEqual(configErrorMessage("capacity: {rounding: float64}"),
                       "t.yaml: capacity.rounding: expected one of exact, float32, got 'float64' (did you mean 'float32'?)")
        XCTAssertEqual(configErrorMessage("overflow: {renormalize_epsilon: 2}"),
                       "t.yaml: overflow.renormalize_epsilon: expected a number in [0, 1], got 2")
        XCTAssertEqual(configErrorMessage("overflow: {renormalize_epsilon: -1e-9}"),
                       "t.yaml: overflow.renormalize_epsilon: expected a number in [0, 1], got -1e-09")
    }

    func testCapacityValue() throws {
        let c = try parse("capacity: {value: 16, scope: global}")
        XCTAssertEqual(Capacity.local(c.capacity, tokens: 512, topK: 2, experts: 8), 16)
        XCTAssertEqual(Capacity.global(c.capacity, totalTokens: 4096, topK: 2, experts: 8), 16)
        let lines = try resolvedLines("capacity: {value: 16}")
        XCTAssertTrue(lines.contains("value: 16"))
        XCTAssertFalse(lines.contains { $0.hasPrefix("factor:") || $0.hasPrefix("min_capacity:") }, "\(lines.sorted())")
        // A preset's min_capacity does not contradict it; a written one does.
        XCTAssertEqual(try parse("router: {compat: deepspeed_topk}\nmodel: {top_k: 3}\ncapacity: {value: 2}")
            .capacity.value, 2)
        XCTAssertEqual(configErrorMessage("capacity: {factor: 1.2, value: 16}"),
                       "t.yaml: capacity.value: 16 sets C itself; remove capacity.factor, which would set it too")
        XCTAssertEqual(configErrorMessage("capacity: {min_capacity: 4}", ["capacity.value=8"]),
                       "--set capacity.value=8: capacity.value: 8 sets C itself; remove capacity.min_capacity, which would set it too")
        XCTAssertEqual(configErrorMessage("capacity: {value: -1}"),
                       "t.yaml: capacity.value: expected an integer in [0, 2147483647] or 'none', got -1")
        XCTAssertEqual(configErrorMessage("capacity: {value: 2147483648}"),
                       "t.yaml: capacity.value: expected an integer in [0, 2147483647] or 'none', got 2147483648")
        XCTAssertNil(try parse("capacity: {value: none, factor: 2}").capacity.value)
    }

    /// Repro 1 of the issue: 25 tokens [1, 0], top-1, cf 1.2: DeepSpeed's float32
    /// ceil(float32(12.5) · float32(1.2)) = ceil(15.000001) = 16; exactly, 15.
    func testFloat32RoundingGivesDeepSpeedsCapacity() throws {
        var cap = CapacityConfig()
        cap.factor = 1.2
        XCTAssertEqual(Capacity.local(cap, tokens: 25, topK: 1, experts: 2), 15)
        cap.rounding = .float32
        XCTAssertEqual(Capacity.local(cap, tokens: 25, topK: 1, experts: 2), 16)
        // Megatron-Core's example stays as it was under exact rounding.
        cap.rounding = .exact
        cap.factor = 1.1
        XCTAssertEqual(Capacity.local(cap, tokens: 500, topK: 1, experts: 10), 56)

        let logits: [Float] = (0..<50).map { $0 % 2 == 0 ? 1 : 0 }
        let shape = "model: {experts: 2, top_k: 1}\ntokens: 25\nworkload: {kind: trace, file: x.npy}\n"
        for reference in [false, true] {
            let ds = try decide(shape + "router: {compat: deepspeed_top1}\ncapacity: {factor: 1.2, min_capacity: 0}",
                                logits, tokens: 25, experts: 2, reference: reference)
            XCTAssertEqual(ds.capacity, 16)
            XCTAssertEqual(ds.kept.filter { $0 }.count, 16)
            let own = try decide(shape + "capacity: {factor: 1.2}", logits, tokens: 25, experts: 2, reference: reference)
            XCTAssertEqual(own.capacity, 15)
            XCTAssertEqual(own.kept.filter { $0 }.count, 15)
        }
    }

    /// Repro 2 of the issue: tokens [0, -30, -100] and [0, -100, -30], top-2, cf 0.5
    /// (C = 1), min_capacity 0, slot_position, renormalize. Token 1 keeps only expert 2,
    /// probability e^-30 ≈ 9.357623e-14. DeepSpeed 0.19.8's top2gating divides by
    /// max(sum, float32 epsilon): 9.357623e-14 / 2^-23 = 7.849743e-07 (its output,
    /// Tests/Fixtures/peers/generate.py's call); by the sum alone it would be 1.0.
    func testRenormalizeEpsilonGivesDeepSpeedsWeight() throws {
        let logits: [Float] = [0, -30, -100, 0, -100, -30]
        let shape = "model: {experts: 3, top_k: 2}\ntokens: 2\nworkload: {kind: trace, file: x.npy}\n"
        for reference in [false, true] {
            let ds = try decide(shape + "router: {compat: deepspeed_top2}\ncapacity: {factor: 0.5, min_capacity: 0}",
                                logits, tokens: 2, experts: 3, reference: reference)
            let own = try decide(shape + """
                router: {weights: raw}
                capacity: {factor: 0.5, min_capacity: 0, priority: slot_position}
                overflow: {renormalize: true}
                """, logits, tokens: 2, experts: 3, reference: reference)
            for d in [ds, own] {
                XCTAssertEqual(d.capacity, 1)
                XCTAssertEqual(d.chosen, [0, 1, 0, 2])
                XCTAssertEqual(d.kept, [true, true, false, true])
            }
            XCTAssertEqual(ds.weight[3], 7.849743e-07, accuracy: 1e-12)
            XCTAssertEqual(own.weight[3], 1.0)
            // Token 0's sum is 1: both divide by it.
            XCTAssertEqual(ds.weight[0], 1.0)
            XCTAssertEqual(own.weight[0], 1.0)
            XCTAssertEqual(ds.weight[1], 9.357623e-14, accuracy: 1e-19)
        }
    }

    /// The same clamp in DeepSpeed's top-k gate: tokens [0, -30, -100] and [0, -16.5, -90],
    /// top-3, cf 0.3 (C = 1), min_capacity 0. Token 1 loses expert 0 (0.99999988 < 1.0)
    /// and keeps experts 1 and 2, whose probabilities sum to 6.8e-08 < 2^-23. DeepSpeed
    /// 0.19.8's topkgating gives them 0.57257307 and 6.873633e-33; by the sum alone they
    /// would be 1.0 and 1.2e-32.
    func testRenormalizeEpsilonInTheTopKGate() throws {
        let logits: [Float] = [0, -30, -100, 0, -16.5, -90]
        let shape = "model: {experts: 3, top_k: 3}\ntokens: 2\nworkload: {kind: trace, file: x.npy}\n"
        for reference in [false, true] {
            let ds = try decide(shape + "router: {compat: deepspeed_topk}\ncapacity: {factor: 0.3, min_capacity: 0}",
                                logits, tokens: 2, experts: 3, reference: reference)
            let own = try decide(shape + "router: {weights: raw}\ncapacity: {factor: 0.3}\noverflow: {renormalize: true}",
                                 logits, tokens: 2, experts: 3, reference: reference)
            for d in [ds, own] {
                XCTAssertEqual(d.capacity, 1)
                XCTAssertEqual(d.chosen, [0, 1, 2, 0, 1, 2])
                XCTAssertEqual(d.kept, [true, false, false, false, true, true])
            }
            XCTAssertEqual(ds.weight[4], 0.57257307, accuracy: 1e-6)
            XCTAssertEqual(ds.weight[5], 6.873633e-33, accuracy: 1e-38)
            XCTAssertEqual(own.weight[4], 1.0, accuracy: 1e-6)
            XCTAssertEqual(own.weight[5], 1.2e-32, accuracy: 1e-33)
        }
    }

    /// DeepSpeed's top-1 and top-2 gates take torch.argmax of the float32 softmax: logits
    /// [0, 1e-8, -1] give experts 0 and 1 the same probability 0.42231882, and DeepSpeed
    /// 0.19.8 picks expert 0 (then expert 1 second); epsim's own ranking by logit picks 1.
    func testFirstChoiceByFloat32Score() throws {
        let logits: [Float] = [0, 1e-8, -1]
        let shape = "model: {experts: 3, top_k: 2}\ntokens: 1\nworkload: {kind: trace, file: x.npy}\n"
        for reference in [false, true] {
            XCTAssertEqual(try decide(shape + "router: {compat: deepspeed_top2}", logits, tokens: 1, experts: 3,
                                      reference: reference).chosen, [0, 1])
            XCTAssertEqual(try decide(shape, logits, tokens: 1, experts: 3, reference: reference).chosen, [1, 0])
        }
        XCTAssertEqual(configErrorMessage("router: {first_choice: float32_score, groups: 2, groups_per_token: 2}"),
                       "t.yaml: router.first_choice: float32_score picks by the bare scores; not with router.groups 2")
    }

    /// epsim's decision on `logits` [T × E] under the config `yaml`.
    func decide(_ yaml: String, _ logits: [Float], tokens: Int, experts: Int, reference: Bool) throws -> EpsimDecision {
        let c = try parse(yaml)
        let p = PeerCase(kind: "repro", tokens: tokens, experts: experts, topK: c.model.topK, factor: 0,
                         minCapacity: 0, capacity: 0, logits: logits, expert: [], kept: [], weight: [])
        return try EpsimDecision.run(c, p, reference: reference)
    }
}
