import XCTest
@testable import EpsimCore

/// `router.compat` against the peers' own gate functions: Tests/Fixtures/peers holds 200
/// logit matrices per preset (ordinary, underflowing, saturating, tied) with what
/// DeepSpeed 0.19.8 / Megatron-Core 0.16.1 decided on them (generate.py). With the
/// preset, epsim's C, chosen experts, kept assignments and weights equal the peer's,
/// except where docs/semantics.md ("Presets") names the peer's own arbitrariness; there
/// the per-expert counts are compared instead. Both the fast path and the `--verify`
/// reference are checked.
final class PeerCompatTests: XCTestCase {
    /// Weights are compared to 8 float32 ulps (relative 2⁻²⁰): torch's softmax (vectorized
    /// exp, blocked sums) and epsim's (libm expf, sum in expert order) round differently
    /// in the last bits; the renormalizing sums differ in order the same way.
    static let weightTolerance: Float = 8 * Float.ulpOfOne

    func testDeepSpeedTop1() throws { try compare(.deepspeedTop1) }
    func testDeepSpeedTop2() throws { try compare(.deepspeedTop2) }
    func testDeepSpeedTopK() throws { try compare(.deepspeedTopK) }
    func testMegatron() throws { try compare(.megatron) }

    /// What a comparison found, summed over a preset's cases.
    struct Tally: CustomStringConvertible {
        var matrices = 0, assignments = 0, dropped = 0
        var exactAssignments = 0, countedAssignments = 0, tiedAssignments = 0, exactWeights = 0
        var mismatches: [String] = []
        var description: String {
            "\(matrices) matrices, \(assignments) assignments (\(dropped) dropped by the peer): "
                + "\(exactAssignments) compared one by one, \(countedAssignments) by per-expert count, "
                + "\(tiedAssignments) left out (the peer chose another expert of equal value there, or the survivors of that column depended on such a choice); "
                + "\(exactWeights) weights bitwise equal; \(mismatches.count) mismatches"
        }
    }

    func compare(_ preset: CompatPreset, file: StaticString = #filePath, line: UInt = #line) throws {
        for reference in [false, true] {
            let tally = try Self.tally(preset, reference: reference)
            print("\(preset.rawValue) \(reference ? "reference" : "fast path"): \(tally)")
            XCTAssertEqual(tally.mismatches, [], "\(preset.rawValue) \(reference ? "reference" : "fast path")",
                           file: file, line: line)
            XCTAssertEqual(tally.matrices, 200, file: file, line: line)
            XCTAssertGreaterThan(tally.dropped, 0, "the fixtures exercise capacity", file: file, line: line)
        }
    }

    /// The fixtures tell each preset key's value from a wrong one: with any single key
    /// of a preset set otherwise, some case disagrees with the peer. (The top-k gate's
    /// epsilon shows only when a token loses its top expert to a strictly higher
    /// probability and keeps less than 2^-23: CompatPresetTests builds that case.)
    func testEveryPresetKeyIsNeeded() throws {
        let wrong: [(CompatPreset, String, (inout SimConfig) -> Void)] = [
            (.deepspeedTop1, "first_choice logit", { $0.router.firstChoice = .logit }),
            (.deepspeedTop1, "rounding exact", { $0.capacity.rounding = .exact }),
            (.deepspeedTop1, "weights normalized", { $0.router.weights = .normalized }),
            (.deepspeedTop1, "min_capacity 0", { $0.capacity.minCapacity = 0 }),
            (.deepspeedTop2, "first_choice logit", { $0.router.firstChoice = .logit }),
            (.deepspeedTop2, "priority position", { $0.capacity.priority = .position }),
            (.deepspeedTop2, "renormalize_epsilon 0", { $0.overflow.renormalizeEpsilon = 0 }),
            (.deepspeedTop2, "renormalize false", { $0.overflow.renormalize = false }),
            (.deepspeedTop2, "rounding exact", { $0.capacity.rounding = .exact }),
            (.deepspeedTop2, "min_capacity 0", { $0.capacity.minCapacity = 0 }),
            (.deepspeedTopK, "priority slot_position", { $0.capacity.priority = .slotPosition }),
            (.deepspeedTopK, "rounding exact", { $0.capacity.rounding = .exact }),
            (.deepspeedTopK, "min_capacity 0", { $0.capacity.minCapacity = 0 }),
            (.megatron, "weights raw", { $0.router.weights = .raw }),
            (.megatron, "priority slot_position", { $0.capacity.priority = .slotPosition }),
            (.megatron, "rounding float32", { $0.capacity.rounding = .float32 }),
            (.megatron, "min_capacity 4", { $0.capacity.minCapacity = 4 }),
        ]
        for (preset, what, change) in wrong {
            let tally = try Self.tally(preset, reference: false, change: change)
            print("\(preset.rawValue) with \(what): \(tally.mismatches.count) mismatches, e.g. \(tally.mismatches.first ?? "-")")
            XCTAssertFalse(tally.mismatches.isEmpty, "\(preset.rawValue) with \(what) agrees with the peer")
        }
    }

    /// Compares every case of `preset`'s fixture, with `change` applied to the config.
    static func tally(_ preset: CompatPreset, reference: Bool,
                      change: (inout SimConfig) -> Void = { _ in }) throws -> Tally {
        let cases = try PeerCase.load(preset.rawValue)
        var tally = Tally()
        for (i, p) in cases.enumerated() {
            var c = try p.config(preset)
            change(&c)
            let d = try EpsimDecision.run(c, p, reference: reference)
            compare(preset, p, d, label: "case \(i) (\(p.kind), T \(p.tokens), E \(p.experts), k \(p.topK), cf \(p.factor))",
                    into: &tally)
        }
        return tally
    }

    /// Equal to `weightTolerance`, or within 8 steps of the subnormal range (where
    /// float32 keeps fewer bits: 3.8233e-40 against 3.82329e-40 is one step).
    static func sameWeight(_ a: Float, _ b: Float) -> Bool {
        a == b || abs(a - b) <= weightTolerance * max(abs(a), abs(b))
            || abs(a - b) <= 8 * Float.leastNonzeroMagnitude
    }

    /// Compares one case. The peer's arbitrariness (docs/semantics.md, Presets):
    /// - `deepspeed_top1` (use_rts off) picks the C tokens an expert keeps with
    ///   torch.topk over equal 0/1 mask values: which ones is arbitrary, how many is not;
    /// - the `probs` policies (`deepspeed_topk`, `megatron`) rank an expert's column
    ///   with torch.topk: among equal weights at the capacity boundary, and among
    ///   zero-weight assignments (equal to the tokens that did not choose the expert),
    ///   which are kept is arbitrary.
    /// Those experts are compared by the count of kept assignments of positive weight.
    static func compare(_ preset: CompatPreset, _ p: PeerCase, _ d: EpsimDecision, label: String,
                        into tally: inout Tally) {
        let T = p.tokens, k = p.topK, E = p.experts
        tally.matrices += 1
        tally.assignments += T * k
        tally.dropped += p.kept.filter { !$0 }.count
        func fail(_ s: String) { tally.mismatches.append("\(preset.rawValue) \(label): \(s)") }
        if d.capacity != p.capacity && !(preset == .megatron && p.capacity > T && (d.capacity ?? 0) > T) {
            fail("C \(d.capacity.map(String.init) ?? "none") != peer \(p.capacity)")
        }
        // Per (token, expert): the peer's slot and epsim's.
        var arbitrary = [Bool](repeating: preset == .deepspeedTop1, count: E)
        if preset == .deepspeedTopK || preset == .megatron {
            for e in 0..<E {
                // Weights before capacity of the assignments at e, descending.
                var w: [Float] = []
                for t in 0..<T { for j in 0..<k where d.chosen[t * k + j] == e { w.append(d.before[t * k + j]) } }
                w.sort(by: >)
                let c = p.capacity
                if c < T && w.contains(0) { arbitrary[e] = true }
                if w.count > c && c > 0 && w[c - 1] == w[c] { arbitrary[e] = true }
            }
        }
        // Choices: the same experts, or (torch.topk's ties) experts of equal ranking value:
        // the float32 probability for DeepSpeed's top-k gate, the logit for Megatron-Core.
        var tied = [Bool](repeating: false, count: E)
        var tiedTokens = [Bool](repeating: false, count: T)
        for t in 0..<T {
            let ours = Set(d.chosen[(t * k)..<(t * k + k)]), theirs = Set(p.expert[(t * k)..<(t * k + k)])
            guard ours != theirs else { continue }
            let key = preset == .megatron ? p.logits : d.scores
            let values = { (s: Set<Int>) in s.map { key[t * E + $0] }.sorted() }
            if (preset == .deepspeedTopK || preset == .megatron) && values(ours) == values(theirs) {
                tiedTokens[t] = true
                // The slots that differ hold equal values, so equal weights; if those are 0
                // (probabilities that underflowed), the `probs` columns rank them below
                // every positive weight: who else is kept there does not change.
                let differing = (0..<k).filter { !theirs.contains(d.chosen[t * k + $0]) }
                if differing.contains(where: { d.before[t * k + $0] > 0 }) {
                    for e in ours.symmetricDifference(theirs) { tied[e] = true }
                }
            } else {
                fail("token \(t) chose \(ours.sorted()), peer \(theirs.sorted()) (logits \(Array(p.logits[(t * E)..<(t * E + E)])))")
            }
        }
        // A column that overflowed on either side: which tokens chose it was decided by a
        // tie (above), so who is kept there cannot be compared.
        var load = [Int](repeating: 0, count: E), peerLoad = load
        for a in 0..<(T * k) {
            load[d.chosen[a]] += 1
            peerLoad[p.expert[a]] += 1
        }
        let unknown = (0..<E).map { tied[$0] && max(load[$0], peerLoad[$0]) > p.capacity }
        var peerKept = [Int](repeating: 0, count: E), ourKept = [Int](repeating: 0, count: E)
        for t in 0..<T {
            let ours = Array(d.chosen[(t * k)..<(t * k + k)]), theirs = Array(p.expert[(t * k)..<(t * k + k)])
            guard Set(ours) == Set(theirs) || tiedTokens[t] else { continue }
            var sameSurvivors = true
            var compared: [(Int, Int)] = []
            for j in 0..<k {
                let e = ours[j], a = t * k + j
                guard let jj = theirs.firstIndex(of: e), !unknown[e] else {
                    tally.tiedAssignments += 1
                    sameSurvivors = sameSurvivors && !d.kept[a]
                    continue
                }
                let q = t * k + jj
                let positive = d.before[a] > 0
                if p.kept[q] && positive { peerKept[e] += 1 }
                if d.kept[a] && positive { ourKept[e] += 1 }
                if d.kept[a] != p.kept[q] { sameSurvivors = false }
                if arbitrary[e] {
                    tally.countedAssignments += 1
                } else {
                    tally.exactAssignments += 1
                    if d.kept[a] != p.kept[q] { fail("token \(t) expert \(e) (slot \(j)): kept \(d.kept[a]), peer \(p.kept[q])") }
                }
                if d.kept[a] && p.kept[q] { compared.append((a, q)) }
            }
            for j in 0..<k where !ours.contains(theirs[j]) || unknown[theirs[j]] {
                sameSurvivors = sameSurvivors && !p.kept[t * k + j]
            }
            // Renormalized weights depend on which of the token's slots survived: compared
            // when the same ones did (always, without renormalization).
            guard sameSurvivors || !d.renormalized else { continue }
            for (a, q) in compared {
                if !sameWeight(d.weight[a], p.weight[q]) {
                    fail("token \(t) expert \(d.chosen[a]): weight \(d.weight[a]), peer \(p.weight[q])")
                } else if d.weight[a] == p.weight[q] {
                    tally.exactWeights += 1
                }
            }
        }
        for e in 0..<E where arbitrary[e] && !unknown[e] && peerKept[e] != ourKept[e] {
            fail("expert \(e) kept \(ourKept[e]) assignments of positive weight, peer \(peerKept[e])")
        }
    }
}
