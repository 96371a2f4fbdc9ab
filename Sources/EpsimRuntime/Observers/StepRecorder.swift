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
        scratch = Array(repeating: 0, count: layers * BalanceStatistics.width(experts: experts) + experts)
    }

    /// Records counted step `step` of `moe` (collective: one allreduce).
    public func stepFinished(_ step: Int, rank moe: MoERank, transport: any Transport) throws {
        let c = moe.config, E = experts, k = c.model.topK, rank = transport.rank
        for i in scratch.indices { scratch[i] = 0 }
        stepTotals.reset()
        let width = BalanceStatistics.width(experts: E), loadBase = layers * width
        // The zero-drop factor of layer l from `scratch` (this rank's before the
        // allreduce: scope local; the world's after it: global).
        func recordZeroDropFactor(layer l: Int, tokens: Int) {
            zeroDropFactor[step * layers + l] = BalanceStatistics.zeroDropFactor(
                scratch[(l * width)..<((l + 1) * width)], capacity: c.capacity, tokens: tokens, topK: k, experts: E)
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
            scratch.withUnsafeMutableBufferPointer {
                BalanceStatistics.add(out, into: UnsafeMutableBufferPointer(rebasing: $0[(l * width)..<((l + 1) * width)]))
            }
            if c.capacity.scope == .local { recordZeroDropFactor(layer: l, tokens: out.tokens) }
        }
        for e in 0..<E { scratch[loadBase + e] = Double(stepTotals.expertLoad[e]) }
        let a = accounting
        let figures = RankStepFigures(
            totals: stepTotals, tokens: moe.tokens * layers, rowsComputed: a.rowsComputed, bytesSent: a.bytesSent,
            bytesReceived: a.bytesReceived, selfBytes: a.dispatchBytes[rank] + a.combineBytes[rank],
            dispatchOffRank: a.dispatchBytes.reduce(0, +) - a.dispatchBytes[rank],
            combineOffRank: a.combineBytes.reduce(0, +) - a.combineBytes[rank],
            capacity: moe.decisions.first?.capacity ?? -1)
        let fields = RankField.allCases.count
        scalars.withUnsafeMutableBufferPointer {
            figures.write(into: UnsafeMutableBufferPointer(rebasing: $0[(step * fields)..<((step + 1) * fields)]), model: c.model)
        }
        if step == 0 {
            for l in 0..<layers { capacityPerLayer[l] = Double(moe.decisions[l].capacity ?? -1) }
        }

        try scratch.withUnsafeMutableBufferPointer { try transport.allreduce($0, op: .sum) }
        for e in 0..<E { expertLoad[step * E + e] = scratch[loadBase + e] }
        if c.capacity.scope == .global {
            for l in 0..<layers { recordZeroDropFactor(layer: l, tokens: Int(scratch[l * width + 3 * E])) }
        }
        (auxLoss[step], importanceCV2[step]) = BalanceStatistics.figures(scratch, layers: layers, experts: E, topK: k)
    }
}

/// What one rank did in one counted step, as `StepRecorder.RankField` records it: the
/// one place the fields get their values (a run's recorder and `epsim estimate` both
/// write through it).
struct RankStepFigures {
    /// The step's routing outcomes, over layers.
    var totals: RoutingTotals
    /// T_r × layers.
    var tokens: Int
    /// Rows the rank's experts computed, over layers and chunks.
    var rowsComputed: Int
    /// Dispatch plus combine bytes sent (self included) and received.
    var bytesSent: Int
    var bytesReceived: Int
    /// Dispatch plus combine bytes kept on the rank.
    var selfBytes: Int
    /// Bytes sent to other ranks in dispatch and in combine.
    var dispatchOffRank: Int
    var combineOffRank: Int
    /// Layer 0's capacity (per source rank, or global); -1 when dropless.
    var capacity: Int

    /// Every field, in `RankField` order, into `row` [RankField.allCases.count]; the
    /// expert FLOPs of the rows computed from `model`.
    func write(into row: UnsafeMutableBufferPointer<Double>, model: ModelConfig) {
        typealias F = StepRecorder.RankField
        precondition(row.count == F.allCases.count, "\(row.count) fields for \(F.allCases.count)")
        func set(_ f: F, _ v: Double) { row[f.rawValue] = v }
        set(.tokens, Double(tokens))
        set(.assignments, Double(totals.assignments))
        set(.accepted, Double(totals.accepted))
        set(.rerouted, Double(totals.rerouted))
        set(.dropped, Double(totals.dropped))
        set(.droppedWeight, totals.droppedWeight)
        set(.rowsComputed, Double(rowsComputed))
        set(.bytesSent, Double(bytesSent))
        set(.bytesReceived, Double(bytesReceived))
        set(.selfBytes, Double(selfBytes))
        set(.dispatchOffRank, Double(dispatchOffRank))
        set(.combineOffRank, Double(combineOffRank))
        set(.expertFlops, ExpertCost.flops(tokens: rowsComputed, model: model))
        set(.capacity, Double(capacity))
    }
}
