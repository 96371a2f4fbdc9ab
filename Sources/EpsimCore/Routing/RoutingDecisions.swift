/// One rank's routing decisions for one layer and step: for every (token, slot)
/// assignment a = t * k + j, where it goes and with what weight.
///
/// Arrays are sized [T × k] unless noted; they are allocated once and reused (only
/// grown) across steps. Sentinels: -1 in `finalExpert`, `destRank`, `destLocal`,
/// `bufferPosition` and `rerouteRound` for a dropped assignment.
///
/// Equality compares the decisions (where each slot went, with what outcome and weight,
/// the loads and counters) and not `bufferPosition` and `rerouteRound`, which say how
/// the decision was reached: `ReferenceDecisions` does not record them, and
/// `invariantViolation` checks them against the decisions instead.
public struct RoutingDecisions: Sendable, Equatable {
    public private(set) var tokens = 0
    public private(set) var topK = 0
    public private(set) var experts = 0
    /// The logical expert the assignment ended at; -1 if dropped.
    public var finalExpert: [Int32] = []
    public var outcome: [Outcome] = []
    /// The weight used when combining (after renormalization); 0 if dropped.
    public var weight: [Float] = []
    /// Rank of the physical copy that computes the assignment; -1 if dropped.
    public var destRank: [Int32] = []
    /// Local index of that copy on `destRank`; -1 if dropped.
    public var destLocal: [Int32] = []
    /// The slot's place among this rank's assignments kept at `finalExpert` (its index
    /// in the expert's capacity buffer from this rank, 0 ..< load): assignments kept in
    /// earlier rounds first; within a round in token order, or slot-major (every first
    /// choice before any second choice) with `priority: slot_position`. DeepSpeed's
    /// `locations` and Megatron-Core's permuted order for the matching priorities (see
    /// docs/results.md). -1 if dropped. Written by `CapacityDecider.finish`'s last round.
    public var bufferPosition: [Int32] = []
    /// The round in which the slot was accepted: 0 at its chosen expert, r ≥ 1 at the
    /// r-th reroute round (`outcome == .rerouted`); -1 if dropped.
    public var rerouteRound: [Int32] = []
    /// [E]: assignments from this rank that ended at each logical expert.
    public var expertLoad: [Int] = []
    public var accepted = 0
    public var rerouted = 0
    public var dropped = 0
    /// The capacity that applied (C_r for local scope, the world's C for global); nil = dropless.
    public var capacity: Int? = nil
    /// Demand/grant exchanges made through the transport (global scope only).
    public var exchangeRounds = 0

    public init() {}

    /// The decisions agree (see the type's note: positions and rounds are not compared).
    public static func == (a: RoutingDecisions, b: RoutingDecisions) -> Bool {
        a.tokens == b.tokens && a.topK == b.topK && a.experts == b.experts
            && a.finalExpert == b.finalExpert && a.outcome == b.outcome && a.weight == b.weight
            && a.destRank == b.destRank && a.destLocal == b.destLocal && a.expertLoad == b.expertLoad
            && a.accepted == b.accepted && a.rerouted == b.rerouted && a.dropped == b.dropped
            && a.capacity == b.capacity && a.exchangeRounds == b.exchangeRounds
    }

    /// Number of assignments, T × k.
    public var assignments: Int { tokens * topK }

    /// Prepares for a new decision: sizes the arrays, clears them (every assignment
    /// dropped, every load 0) and clears counters.
    public mutating func reset(tokens: Int, topK: Int, experts: Int) {
        let n = tokens * topK
        self.tokens = tokens
        self.topK = topK
        self.experts = experts
        if finalExpert.count != n {
            finalExpert = Array(repeating: -1, count: n)
            outcome = Array(repeating: .dropped, count: n)
            weight = Array(repeating: 0, count: n)
            destRank = Array(repeating: -1, count: n)
            destLocal = Array(repeating: -1, count: n)
            bufferPosition = Array(repeating: -1, count: n)
            rerouteRound = Array(repeating: -1, count: n)
        } else {
            // Reused from an earlier step: nothing of it may leak into this one.
            withUnsafeMutableSlots { s in
                s.finalExpert.update(repeating: -1)
                s.outcome.update(repeating: .dropped)
                s.weight.update(repeating: 0)
                s.destRank.update(repeating: -1)
                s.destLocal.update(repeating: -1)
                s.bufferPosition.update(repeating: -1)
                s.rerouteRound.update(repeating: -1)
            }
        }
        if expertLoad.count != experts {
            expertLoad = Array(repeating: 0, count: experts)
        } else {
            expertLoad.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        accepted = 0
        rerouted = 0
        dropped = 0
        capacity = nil
        exchangeRounds = 0
    }

    /// The per-assignment arrays ([T × k] each) and `expertLoad` ([E]) as buffer
    /// pointers, valid inside `body` only: for code that writes every assignment in a
    /// hot loop (`CapacityDecider`), which then pays for exclusivity and uniqueness
    /// checks once per array instead of once per element.
    struct Slots {
        let finalExpert: UnsafeMutableBufferPointer<Int32>
        let outcome: UnsafeMutableBufferPointer<Outcome>
        let weight: UnsafeMutableBufferPointer<Float>
        let destRank: UnsafeMutableBufferPointer<Int32>
        let destLocal: UnsafeMutableBufferPointer<Int32>
        let bufferPosition: UnsafeMutableBufferPointer<Int32>
        let rerouteRound: UnsafeMutableBufferPointer<Int32>
        let expertLoad: UnsafeMutableBufferPointer<Int>
    }

    /// Calls `body` with the arrays as `Slots`. The counters are not part of the view:
    /// set them after `body` returns.
    mutating func withUnsafeMutableSlots<R>(_ body: (Slots) -> R) -> R {
        finalExpert.withUnsafeMutableBufferPointer { finalExpert in
            outcome.withUnsafeMutableBufferPointer { outcome in
                weight.withUnsafeMutableBufferPointer { weight in
                    destRank.withUnsafeMutableBufferPointer { destRank in
                        destLocal.withUnsafeMutableBufferPointer { destLocal in
                            bufferPosition.withUnsafeMutableBufferPointer { bufferPosition in
                                rerouteRound.withUnsafeMutableBufferPointer { rerouteRound in
                                    expertLoad.withUnsafeMutableBufferPointer { expertLoad in
                                        body(Slots(finalExpert: finalExpert, outcome: outcome, weight: weight,
                                                   destRank: destRank, destLocal: destLocal,
                                                   bufferPosition: bufferPosition, rerouteRound: rerouteRound,
                                                   expertLoad: expertLoad))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Checks the invariants every decision must satisfy and returns the first broken
    /// one, or nil: accounting closes (T·k = accepted + rerouted + dropped), outcomes
    /// agree with the per-slot arrays, no token uses an expert twice, loads match, and
    /// (when a per-rank capacity is given) no expert holds more than it; each expert's
    /// buffer positions are 0 ..< its load, each once; the round is 0 exactly for
    /// accepted slots, at least 1 for rerouted ones, -1 (with the position) for dropped ones.
    public func invariantViolation(layout: ExpertLayout, rank: Int, perRankCapacity: Int?) -> String? {
        let n = assignments
        if accepted + rerouted + dropped != n {
            return "accounting: \(accepted) accepted + \(rerouted) rerouted + \(dropped) dropped != \(n)"
        }
        var load = [Int](repeating: 0, count: experts)
        var counts = [0, 0, 0]
        for a in 0..<n {
            counts[Int(outcome[a].rawValue)] += 1
            let e = Int(finalExpert[a])
            if outcome[a] == .dropped {
                if e != -1 || destRank[a] != -1 || weight[a] != 0 { return "slot \(a): dropped but routed" }
                if bufferPosition[a] != -1 || rerouteRound[a] != -1 {
                    return "slot \(a): dropped with buffer position \(bufferPosition[a]), round \(rerouteRound[a])"
                }
                continue
            }
            if (outcome[a] == .accepted) != (rerouteRound[a] == 0) || rerouteRound[a] < 0 {
                return "slot \(a): \(outcome[a]) in round \(rerouteRound[a])"
            }
            guard (0..<experts).contains(e) else { return "slot \(a): expert \(e) out of range" }
            load[e] += 1
            let r = Int(destRank[a]), l = Int(destLocal[a])
            guard r >= 0, layout.localIndex(of: e, onRank: r) == l else {
                return "slot \(a): expert \(e) sent to rank \(r) slot \(l), which does not hold it"
            }
            let t = a / topK
            for j in 0..<topK where t * topK + j != a && Int(finalExpert[t * topK + j]) == e {
                return "token \(t) uses expert \(e) twice"
            }
        }
        var seen = Set<Int>()
        for a in 0..<n where finalExpert[a] >= 0 {
            let e = Int(finalExpert[a]), p = Int(bufferPosition[a])
            if p < 0 || p >= load[e] || !seen.insert(e * n + p).inserted {
                return "slot \(a): buffer position \(p) at expert \(e), which holds \(load[e]) (or taken twice)"
            }
        }
        if counts != [accepted, rerouted, dropped] { return "outcome counts \(counts) disagree with counters" }
        if load != expertLoad { return "expert load \(expertLoad) disagrees with slots \(load)" }
        if let c = perRankCapacity, let e = load.firstIndex(where: { $0 > c }) {
            return "expert \(e) holds \(load[e]) assignments, capacity \(c)"
        }
        return nil
    }
}
