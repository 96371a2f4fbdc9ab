import EpsimCore

/// Demand before capacity and where it went, per layer and logical expert, of one rank
/// summed over counted steps (or of the world, summed over ranks): counted by
/// `StepRecorder` after the step, outside the timed capacity stage.
///
/// For an assignment whose router chose expert c and that ended at f:
/// - `demand[c]` += 1 always;
/// - accepted at c: `accepted[c]` += 1;
/// - rerouted: `reroutedOut[c]` += 1 and `reroutedIn[f]` += 1;
/// - dropped: `dropped[c]` += 1.
///
/// So per expert demand = accepted + rerouted_out + dropped, and accepted + rerouted_in
/// is the expert's load.
public struct RoutingDemand: Sendable, Equatable {
    public enum Field: Int, CaseIterable, Sendable {
        case demand, accepted, reroutedIn, reroutedOut, dropped
    }

    public let layers: Int
    public let experts: Int
    /// [layers × fields × E].
    public private(set) var counts: [Int64]

    public init(layers: Int, experts: Int) {
        self.layers = layers
        self.experts = experts
        counts = Array(repeating: 0, count: layers * Field.allCases.count * experts)
    }

    init(layers: Int, experts: Int, counts: [Int64]) {
        precondition(counts.count == layers * Field.allCases.count * experts, "\(counts.count) counts for \(layers) × \(experts)")
        self.layers = layers
        self.experts = experts
        self.counts = counts
    }

    private func index(_ f: Field, layer: Int, expert: Int) -> Int {
        (layer * Field.allCases.count + f.rawValue) * experts + expert
    }

    /// [E]: field `f` of `layer`.
    public func values(_ f: Field, layer: Int) -> [Int64] {
        let base = index(f, layer: layer, expert: 0)
        return Array(counts[base..<(base + experts)])
    }

    /// [E]: field `f` summed over layers.
    public func values(_ f: Field) -> [Int64] {
        var v = [Int64](repeating: 0, count: experts)
        for l in 0..<layers {
            let base = index(f, layer: l, expert: 0)
            for e in 0..<experts { v[e] += counts[base + e] }
        }
        return v
    }

    /// Adds one layer-step of decisions; `chosen` is the router's [T × k] choice.
    public mutating func add(layer: Int, chosen: UnsafeBufferPointer<Int32>, decisions d: RoutingDecisions) {
        precondition(chosen.count >= d.assignments, "\(chosen.count) choices for \(d.assignments) assignments")
        let demand = index(.demand, layer: layer, expert: 0), accepted = index(.accepted, layer: layer, expert: 0)
        let reroutedIn = index(.reroutedIn, layer: layer, expert: 0)
        let reroutedOut = index(.reroutedOut, layer: layer, expert: 0)
        let dropped = index(.dropped, layer: layer, expert: 0)
        counts.withUnsafeMutableBufferPointer { c in
            for a in 0..<d.assignments {
                let e = Int(chosen[a])
                c[demand + e] += 1
                switch d.outcome[a] {
                case .accepted: c[accepted + e] += 1
                case .rerouted:
                    c[reroutedOut + e] += 1
                    c[reroutedIn + Int(d.finalExpert[a])] += 1
                case .dropped: c[dropped + e] += 1
                }
            }
        }
    }

    /// The sum of several ranks' counts.
    public static func sum(_ list: [RoutingDemand], layers: Int, experts: Int) -> RoutingDemand {
        var total = RoutingDemand(layers: layers, experts: experts)
        for t in list {
            for i in total.counts.indices { total.counts[i] += t.counts[i] }
        }
        return total
    }

    /// Every rank's counts summed, on rank 0; nil on the other ranks (collective).
    public func gatheredSum(_ transport: any Transport) throws -> RoutingDemand? {
        let all = try transport.gather(counts)
        guard transport.rank == 0 else { return nil }
        let n = counts.count
        return RoutingDemand.sum((0..<transport.size).map {
            RoutingDemand(layers: layers, experts: experts, counts: Array(all[($0 * n)..<(($0 + 1) * n)]))
        }, layers: layers, experts: experts)
    }
}
