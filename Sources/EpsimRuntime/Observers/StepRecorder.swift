import EpsimCore

/// Per-step figures, recorded after every counted step outside the timed region (a
/// `StepObserver` added after the `StepAccounting` it reads).
///
/// Routing outcomes are counted by one function, `RoutingTotals.add`, per layer, into
/// the step's totals (the per-step scalars and the expert load) and the run's `totals`.
/// Bytes and rows come from the accounting.
///
/// Each rank keeps its own scalars for every step ([steps × `RankField.allCases.count`],
/// gathered once at the end). Figures that need every rank's routing (expert load, the
/// load-balancing loss, importance) are summed over ranks with one allreduce per step;
/// every rank then holds the same per-step global figures.
public final class StepRecorder: StepObserver {
    /// One rank's scalars per step.
    public enum RankField: Int, CaseIterable, Sendable {
        case tokens, assignments, accepted, rerouted, dropped, droppedWeight
        /// Rows this rank's experts computed (its load), summed over layers.
        case rowsComputed
        case bytesSent, bytesReceived, selfBytes
        /// Bytes sent to other ranks in dispatch and in combine.
        case dispatchOffRank, combineOffRank
        /// FLOPs of the rows computed (routed experts only).
        case expertFlops
        /// The capacity of layer 0 (per source rank, or global); -1 when dropless.
        case capacity
    }

    public let steps: Int
    public let experts: Int
    public let layers: Int
    /// The bytes and rows of each step.
    public let accounting: StepAccounting
    /// This rank's routing outcomes over every counted step and layer.
    public private(set) var totals: RoutingTotals
    /// The latest step's routing outcomes, summed over layers.
    private var stepTotals: RoutingTotals
    /// [steps × RankField.allCases.count] for this rank.
    public private(set) var scalars: [Double]
    /// [steps × E]: assignments that ended at each expert, all ranks, summed over layers.
    public private(set) var expertLoad: [Double]
    /// [layers]: the capacity each layer applied at the first counted step (per source
    /// rank, or global; -1 when dropless). It depends on T_r, k, E and the capacity keys
    /// only, so every step has the same.
    public private(set) var capacityPerLayer: [Double]
    /// [steps]: Switch's load-balancing loss and the squared coefficient of variation of
    /// expert importance, each the mean over layers (see docs/results.md).
    public private(set) var auxLoss: [Double]
    public private(set) var importanceCV2: [Double]
    /// Demand before capacity and where it went, per layer and expert, this rank's over
    /// counted steps (`RoutingDemand`).
    public private(set) var demand: RoutingDemand
    /// [steps × layers]: the zero-drop capacity factor of each step and layer
    /// (`Capacity.zeroDropFactor` of the largest demand of one expert): for `scope: local`
    /// this rank's (its largest demand from its T_r tokens), for `global` the world's
    /// (the largest world demand from ΣT_r tokens, the same on every rank). The run's is
    /// the maximum over ranks (`RunMetrics`).
    public private(set) var zeroDropFactor: [Double]
    /// Scratch for the allreduce: per layer [chosen count E, score sum E, importance E,
    /// tokens 1], then the expert load [E].
    private var scratch: [Double]

    public init(steps: Int, experts: Int, layers: Int, accounting: StepAccounting) {
        self.steps = steps
        self.experts = experts
        self.layers = layers
        self.accounting = accounting
        totals = RoutingTotals(experts: experts)
        stepTotals = totals
        scalars = Array(repeating: 0, count: steps * RankField.allCases.count)
        expertLoad = Array(repeating: 0, count: steps * experts)
        auxLoss = Array(repeating: 0, count: steps)
        capacityPerLayer = Array(repeating: -1, count: layers)
        demand = RoutingDemand(layers: layers, experts: experts)
        zeroDropFactor = Array(repeating: 0, count: steps * layers)
        importanceCV2 = Array(repeating: 0, count: steps)
        scratch = Array(repeating: 0, count: layers * (3 * experts + 1) + experts)
    }

    private func set(_ step: Int, _ field: RankField, _ value: Double) {
        scalars[step * RankField.allCases.count + field.rawValue] = value
    }

    /// Records counted step `step` of `moe` (collective: one allreduce).
    public func stepFinished(_ step: Int, rank moe: MoERank, transport: any Transport) throws {
        let c = moe.config, E = experts, k = c.model.topK, rank = transport.rank
        for i in scratch.indices { scratch[i] = 0 }
        stepTotals.reset()
        let loadBase = layers * (3 * E + 1)
        // The zero-drop factor of layer l from the most chosen expert's count in `scratch`
        // (this rank's before the allreduce: scope local; the world's after it: global).
        func recordZeroDropFactor(layer l: Int, tokens: Int) {
            let base = l * (3 * E + 1)
            let most = scratch[base..<(base + E)].max() ?? 0
            zeroDropFactor[step * layers + l] = Capacity.zeroDropFactor(
                c.capacity, demand: Int(most), tokens: tokens, topK: k, experts: E)
        }
        for l in 0..<layers {
            let d = moe.decisions[l], out = moe.routed[l]
            // One count, into the step's totals and the run's (added layer by layer, so
            // the run's weight sums round as they always have).
            out.weights.withUnsafeBufferPointer {
                stepTotals.add(d, weights: $0)
                totals.add(d, weights: $0)
            }
            out.chosen.withUnsafeBufferPointer { demand.add(layer: l, chosen: $0, decisions: d) }
            let base = l * (3 * E + 1)
            scratch.withUnsafeMutableBufferPointer {
                StepRecorder.addBalanceStatistics(out, into: UnsafeMutableBufferPointer(rebasing: $0[base..<(base + 3 * E + 1)]))
            }
            if c.capacity.scope == .local { recordZeroDropFactor(layer: l, tokens: out.tokens) }
        }
        for e in 0..<E { scratch[loadBase + e] = Double(stepTotals.expertLoad[e]) }
        let a = accounting
        set(step, .tokens, Double(moe.tokens * layers))
        set(step, .assignments, Double(stepTotals.assignments))
        set(step, .accepted, Double(stepTotals.accepted))
        set(step, .rerouted, Double(stepTotals.rerouted))
        set(step, .dropped, Double(stepTotals.dropped))
        set(step, .droppedWeight, stepTotals.droppedWeight)
        set(step, .rowsComputed, Double(a.rowsComputed))
        set(step, .bytesSent, Double(a.bytesSent))
        set(step, .bytesReceived, Double(a.bytesReceived))
        set(step, .selfBytes, Double(a.dispatchBytes[rank] + a.combineBytes[rank]))
        set(step, .dispatchOffRank, Double(a.dispatchBytes.reduce(0, +) - a.dispatchBytes[rank]))
        set(step, .combineOffRank, Double(a.combineBytes.reduce(0, +) - a.combineBytes[rank]))
        set(step, .expertFlops, ExpertCost.flops(tokens: a.rowsComputed, model: c.model))
        set(step, .capacity, Double(moe.decisions.first?.capacity ?? -1))
        if step == 0 {
            for l in 0..<layers { capacityPerLayer[l] = Double(moe.decisions[l].capacity ?? -1) }
        }

        try scratch.withUnsafeMutableBufferPointer { try transport.allreduce($0, op: .sum) }
        for e in 0..<E { expertLoad[step * E + e] = scratch[loadBase + e] }
        if c.capacity.scope == .global {
            for l in 0..<layers { recordZeroDropFactor(layer: l, tokens: Int(scratch[l * (3 * E + 1) + 3 * E])) }
        }
        (auxLoss[step], importanceCV2[step]) = StepRecorder.balanceFigures(scratch, layers: layers, experts: E, topK: k)
    }

    /// Adds one rank's layer of routing to `stats` [3E + 1]: per expert the times it was
    /// chosen [E], its score normalized per token, summed over tokens [E] (a no-op
    /// normalization for softmax; for sigmoid scores DeepSeek-V3's in its balance loss),
    /// and its importance (slot weights before capacity) [E]; then the token count,
    /// which it sets. Summed over ranks in rank order, these give `balanceFigures`.
    static func addBalanceStatistics(_ out: RouterOutput, into stats: UnsafeMutableBufferPointer<Double>) {
        let E = out.experts, k = out.topK
        precondition(stats.count == 3 * E + 1, "\(stats.count) statistics for E = \(E)")
        let counts = stats.baseAddress!, scoreSums = counts + E, importance = counts + 2 * E
        out.chosen.withUnsafeBufferPointer { chosen in
            out.weights.withUnsafeBufferPointer { weights in
                out.scores.withUnsafeBufferPointer { scores in
                    for t in 0..<out.tokens {
                        for j in 0..<k {
                            let e = Int(chosen[t * k + j])
                            counts[e] += 1
                            importance[e] += Double(weights[t * k + j])
                        }
                        let s = scores.baseAddress! + t * E
                        var total = 0.0
                        for e in 0..<E { total += Double(s[e]) }
                        if total > 0 {
                            for e in 0..<E { scoreSums[e] += Double(s[e]) / total }
                        }
                    }
                }
            }
        }
        counts[3 * E] = Double(out.tokens)
    }

    /// Switch's load-balancing loss and the importance CV², each the mean over layers,
    /// from the world's `addBalanceStatistics` per layer (`stats` [layers × (3E + 1)],
    /// then anything else, ignored).
    static func balanceFigures(_ stats: [Double], layers: Int, experts E: Int, topK k: Int) -> (aux: Double, cv2: Double) {
        var aux = 0.0, cv2 = 0.0
        for l in 0..<layers {
            let base = l * (3 * E + 1)
            let tokens = stats[base + 3 * E]
            guard tokens > 0 else { continue }
            var sum = 0.0
            for e in 0..<E {
                let f = stats[base + e] / (tokens * Double(k))
                let p = stats[base + E + e] / tokens
                sum += f * p
            }
            aux += Double(E) * sum
            cv2 += LoadStatistics.cv2(stats[(base + 2 * E)..<(base + 3 * E)])
        }
        return (aux / Double(max(1, layers)), cv2 / Double(max(1, layers)))
    }
}
