import Foundation
import XCTest
@testable import EpsimCore

/// One logit matrix of Tests/Fixtures/peers/<preset>.json (written by generate.py from
/// the real DeepSpeed 0.19.8 and Megatron-Core 0.16.1 gate functions) and what the peer
/// decided on it.
struct PeerCase {
    let kind: String
    /// T tokens, E experts, k per token.
    let tokens: Int, experts: Int, topK: Int
    let factor: Double
    let minCapacity: Int
    /// The peer's C.
    let capacity: Int
    /// [T × E] row-major.
    let logits: [Float]
    /// [T × k] per token the k chosen experts, in the peer's order.
    let expert: [Int]
    /// [T × k] whether that assignment survived capacity.
    let kept: [Bool]
    /// [T × k] its final weight (0 if dropped).
    let weight: [Float]

    /// The cases of one preset's fixture file.
    static func load(_ preset: String) throws -> [PeerCase] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/peers/\(preset).json")
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        func ints(_ c: [String: Any], _ key: String) -> [Int] { (c[key] as? [NSNumber] ?? []).map(\.intValue) }
        func floats(_ c: [String: Any], _ key: String) -> [Float] {
            (c[key] as? [NSNumber] ?? []).map { Float(bitPattern: $0.uint32Value) }
        }
        return cases.map { c in
            PeerCase(kind: c["kind"] as! String, tokens: (c["T"] as! NSNumber).intValue,
                     experts: (c["E"] as! NSNumber).intValue, topK: (c["k"] as! NSNumber).intValue,
                     factor: (c["cf"] as! NSNumber).doubleValue, minCapacity: (c["min_capacity"] as! NSNumber).intValue,
                     capacity: (c["capacity"] as! NSNumber).intValue, logits: floats(c, "logits"),
                     expert: ints(c, "expert"), kept: ints(c, "kept").map { $0 != 0 }, weight: floats(c, "weight"))
        }
    }

    /// The config of this case under `preset`: the preset's keys, plus the case's shape,
    /// cf and, where it is not the preset's (DeepSpeed cases with 0), min_capacity written
    /// beside the preset, as a file would override it.
    func config(_ preset: CompatPreset) throws -> SimConfig {
        var defaults = SimConfig()
        preset.apply(to: &defaults)
        let minimum = minCapacity == defaults.capacity.minCapacity ? "" : ", min_capacity: \(minCapacity)"
        let yaml = """
            router: {compat: \(preset.rawValue)}
            model: {experts: \(experts), top_k: \(topK)}
            tokens: \(tokens)
            capacity: {factor: \(factor)\(minimum)}
            workload: {kind: trace, file: peer.npy}
            """
        return try ConfigLoader.parse(yaml: yaml, file: nil)
    }
}

/// epsim's decisions on a peer case, from the fast path (Router + CapacityDecider) or
/// from the `--verify` reference (ReferenceRouter + ReferenceDecisions).
struct EpsimDecision {
    /// [T × k] chosen experts, final outcome and weight, in epsim's slot order.
    var chosen: [Int], kept: [Bool], weight: [Float]
    /// [T × k] the slot weights before capacity.
    var before: [Float]
    /// [T × E] the router's float32 scores.
    var scores: [Float]
    var capacity: Int?
    /// `overflow.renormalize` was on.
    var renormalized: Bool

    static func run(_ c: SimConfig, _ p: PeerCase, reference: Bool) throws -> EpsimDecision {
        let trace = RouterTrace(experts: p.experts, logitsByRank: [0: p.logits])
        let layout = try ExpertLayout(c.placement, experts: p.experts, ranks: 1)
        let out: RouterOutput
        if reference {
            out = try ReferenceRouter(config: c, worldSize: 1, trace: trace).route(step: 0, rank: 0, layer: 0)
        } else {
            var router = try Router(config: c, worldSize: 1, trace: trace)
            var o = RouterOutput(config: c, rank: 0, worldSize: 1)
            try router.route(step: 0, rank: 0, layer: 0, inputs: [], into: &o)
            out = o
        }
        let choices = RankChoices(tokens: p.tokens, preference: out.preference, chosen: out.chosen, weights: out.weights)
        let d = reference ? ReferenceDecisions.decide(config: c, layout: layout, ranks: [choices])[0]
                          : fastDecisions(c, layout, rank: 0, choices)
        return EpsimDecision(chosen: choices.chosen.map(Int.init), kept: d.outcome.map { $0 == .accepted },
                             weight: d.weight, before: choices.weights, scores: out.scores, capacity: d.capacity,
                             renormalized: c.overflow.renormalize)
    }
}
