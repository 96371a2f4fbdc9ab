/// One rank's routing decisions for one layer and step: for every (token, slot)
/// assignment a = t * k + j, where it goes and with what weight.
///
/// Arrays are sized [T × k] unless noted; they are allocated once and reused (only
/// grown) across steps. Sentinels: -1 in `finalExpert`, `destRank` and `destLocal`
/// for a dropped assignment.
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
        } else {
            // Reused from an earlier step: nothing of it may leak into this one.
            withUnsafeMutableSlots { s in
                s.finalExpert.update(repeating: -1)
                s.outcome.update(repeating: .dropped)
                s.weight.update(repeating: 0)
                s.destRank.update(repeating: -1)
                s.destLocal.update(repeating: -1)
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
                            expertLoad.withUnsafeMutableBufferPointer { expertLoad in
                                body(Slots(finalExpert: finalExpert, outcome: outcome, weight: weight,
                                           destRank: destRank, destLocal: destLocal, expertLoad: expertLoad))
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
    /// (when a per-rank capacity is given) no expert holds more than it.
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
                continue
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
        if counts != [accepted, rerouted, dropped] { return "outcome counts \(counts) disagree with counters" }
        if load != expertLoad { return "expert load \(expertLoad) disagrees with slots \(load)" }
        if let c = perRankCapacity, let e = load.firstIndex(where: { $0 > c }) {
            return "expert \(e) holds \(load[e]) assignments, capacity \(c)"
        }
        return nil
    }
}
