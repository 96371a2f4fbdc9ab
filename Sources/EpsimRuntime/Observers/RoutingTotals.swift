import EpsimCore

/// Routing counters of one rank, summed over counted steps and layers; reduced across
/// ranks for the report.
public struct RoutingTotals: Sendable, Equatable {
    public var assignments: Int64 = 0
    public var accepted: Int64 = 0
    public var rerouted: Int64 = 0
    public var dropped: Int64 = 0
    /// Sum of the (pre-capacity) weights of dropped slots: routing mass lost to drops.
    public var droppedWeight: Double = 0
    /// Sum of the (pre-capacity) weights of all slots.
    public var totalWeight: Double = 0
    /// [E] assignments that ended at each logical expert.
    public var expertLoad: [Int64]
    /// Demand/grant exchanges made for `capacity.scope: global`.
    public var exchangeRounds: Int64 = 0

    public init(experts: Int) {
        expertLoad = Array(repeating: 0, count: experts)
    }

    /// Adds one layer-step of decisions. `weights` are the router's slot weights
    /// before capacity ([T × k]).
    public mutating func add(_ d: RoutingDecisions, weights: UnsafeBufferPointer<Float>) {
        assignments += Int64(d.assignments)
        accepted += Int64(d.accepted)
        rerouted += Int64(d.rerouted)
        dropped += Int64(d.dropped)
        exchangeRounds += Int64(d.exchangeRounds)
        for e in 0..<expertLoad.count { expertLoad[e] += Int64(d.expertLoad[e]) }
        for a in 0..<d.assignments { totalWeight += Double(weights[a]) }
        if d.dropped > 0 {
            for a in 0..<d.assignments where d.outcome[a] == .dropped { droppedWeight += Double(weights[a]) }
        }
    }

    /// Adds another count (e.g. one step's to the run's).
    public mutating func add(_ other: RoutingTotals) {
        assignments += other.assignments
        accepted += other.accepted
        rerouted += other.rerouted
        dropped += other.dropped
        droppedWeight += other.droppedWeight
        totalWeight += other.totalWeight
        exchangeRounds += other.exchangeRounds
        for e in 0..<expertLoad.count { expertLoad[e] += other.expertLoad[e] }
    }

    /// Sets every counter to zero.
    public mutating func reset() {
        assignments = 0
        accepted = 0
        rerouted = 0
        dropped = 0
        droppedWeight = 0
        totalWeight = 0
        exchangeRounds = 0
        for e in 0..<expertLoad.count { expertLoad[e] = 0 }
    }

    /// The counters as one vector, for collectives: [assignments, accepted, rerouted,
    /// dropped, exchangeRounds, expertLoad...].
    var packed: [Int64] {
        [assignments, accepted, rerouted, dropped, exchangeRounds] + expertLoad
    }

    init(packed: ArraySlice<Int64>, droppedWeight: Double, totalWeight: Double) {
        let p = Array(packed)
        assignments = p[0]
        accepted = p[1]
        rerouted = p[2]
        dropped = p[3]
        exchangeRounds = p[4]
        expertLoad = Array(p[5...])
        self.droppedWeight = droppedWeight
        self.totalWeight = totalWeight
    }

    /// Every rank's totals, in rank order, on rank 0; [] on the other ranks (collective).
    public func gathered(_ transport: any Transport) throws -> [RoutingTotals] {
        let mine = packed
        let all = try transport.gather(mine)
        let weights = try transport.gather([droppedWeight, totalWeight])
        guard transport.rank == 0 else { return [] }
        return (0..<transport.size).map { r in
            RoutingTotals(packed: all[(r * mine.count)..<((r + 1) * mine.count)],
                          droppedWeight: weights[2 * r], totalWeight: weights[2 * r + 1])
        }
    }

    /// The sum of several ranks' totals.
    public static func sum(_ list: [RoutingTotals], experts: Int) -> RoutingTotals {
        var total = RoutingTotals(experts: experts)
        for t in list { total.add(t) }
        return total
    }

    /// The share of routing weight lost to drops (0 when there is none).
    public var droppedWeightShare: Double { totalWeight > 0 ? droppedWeight / totalWeight : 0 }

    /// Whether T·k = accepted + rerouted + dropped.
    public var closes: Bool { assignments == accepted + rerouted + dropped }

    /// max / mean of the expert load (1 = perfectly balanced); 0 when nothing was routed.
    public var expertImbalance: Double {
        let total = expertLoad.reduce(0, +)
        guard total > 0 else { return 0 }
        let mean = Double(total) / Double(expertLoad.count)
        return Double(expertLoad.max()!) / mean
    }
}
