import EpsimCore

/// Every rank's per-step figures, gathered to rank 0, with what reports derive from
/// them: per step (all ranks), per rank (all steps) and in total.
public struct RunMetrics: Sendable {
    typealias Field = StepRecorder.RankField

    public let ranks: Int
    public let steps: Int
    public let experts: Int
    /// [rank][steps × fields], as `StepRecorder.scalars`.
    let scalars: [[Double]]
    /// [steps × E] global expert load per step.
    let expertLoadPerStep: [Double]
    public let auxLossPerStep: [Double]
    public let importanceCV2PerStep: [Double]
    /// Peak resident set size of each rank's process, bytes.
    public let peakResidentBytes: [Int64]
    /// The host each rank ran on.
    public let hosts: [String]
    /// [rank][layer] the capacity each layer applied on each rank (-1: dropless), as
    /// `StepRecorder.capacityPerLayer`.
    public let capacityPerLayer: [[Int]]
    /// Demand before capacity per layer and expert, summed over ranks and steps.
    public let demand: RoutingDemand
    /// [steps × layers] the zero-drop capacity factor of each step and layer, the
    /// maximum over ranks of `StepRecorder.zeroDropFactor`.
    public let zeroDropFactorPerStep: [Double]
    public let layers: Int

    /// Gathers `recorder`'s figures from every rank (collective); nil except on rank 0.
    static func gather(_ recorder: StepRecorder, transport: any Transport) throws -> RunMetrics? {
        let all = try transport.gather(recorder.scalars)
        let rss = try transport.gather([processPeakResidentBytes()])
        let hosts = try transport.gatherBytes(Array(transport.hostName.utf8), root: 0)
        let capacities = try transport.gather(recorder.capacityPerLayer)
        let demand = try recorder.demand.gatheredSum(transport)
        let factors = try transport.gather(recorder.zeroDropFactor)
        guard transport.rank == 0, let demand else { return nil }
        let m = recorder.zeroDropFactor.count
        let zeroDrop = (0..<m).map { i in (0..<transport.size).reduce(0.0) { max($0, factors[$1 * m + i]) } }
        let n = recorder.scalars.count, L = recorder.layers
        return RunMetrics(
            ranks: transport.size, steps: recorder.steps, experts: recorder.experts,
            scalars: (0..<transport.size).map { Array(all[($0 * n)..<(($0 + 1) * n)]) },
            expertLoadPerStep: recorder.expertLoad, auxLossPerStep: recorder.auxLoss,
            importanceCV2PerStep: recorder.importanceCV2, peakResidentBytes: rss,
            hosts: hosts.map { String(decoding: $0, as: UTF8.self) },
            capacityPerLayer: (0..<transport.size).map { r in (0..<L).map { Int(capacities[r * L + $0]) } },
            demand: demand, zeroDropFactorPerStep: zeroDrop, layers: L)
    }

    /// Field `f` of `rank` at `step`.
    func value(_ f: Field, rank: Int, step: Int) -> Double {
        scalars[rank][step * Field.allCases.count + f.rawValue]
    }

    /// Field `f` of `rank`, summed over steps.
    func total(_ f: Field, rank: Int) -> Double {
        (0..<steps).reduce(0) { $0 + value(f, rank: rank, step: $1) }
    }

    /// Field `f` summed over ranks at `step`.
    func sum(_ f: Field, step: Int) -> Double {
        (0..<ranks).reduce(0) { $0 + value(f, rank: $1, step: step) }
    }

    // MARK: zero-drop capacity factor

    /// The zero-drop capacity factor of `layer` at `step`.
    public func zeroDropFactor(step: Int, layer: Int) -> Double {
        zeroDropFactorPerStep[step * layers + layer]
    }

    /// [steps]: each step's over layers (the largest).
    public var zeroDropFactorPerStepAllLayers: [Double] {
        (0..<steps).map { s in (0..<layers).reduce(0.0) { max($0, zeroDropFactor(step: s, layer: $1)) } }
    }

    /// [steps]: one layer's per step.
    public func zeroDropFactorPerStep(layer: Int) -> [Double] {
        (0..<steps).map { zeroDropFactor(step: $0, layer: layer) }
    }

    /// The run's: the largest over steps and layers (0 with no step).
    public var zeroDropFactor: Double { zeroDropFactorPerStep.max() ?? 0 }

    // MARK: per step

    public func expertLoad(step: Int) -> [Double] {
        Array(expertLoadPerStep[(step * experts)..<((step + 1) * experts)])
    }

    /// Rows each rank's experts computed at `step`.
    public func rankLoad(step: Int) -> [Double] {
        (0..<ranks).map { value(.rowsComputed, rank: $0, step: step) }
    }

    // MARK: per rank, over all steps

    public var rankLoad: [Double] { (0..<ranks).map { total(.rowsComputed, rank: $0) } }
    public var rankImbalance: Double { LoadStatistics.imbalance(rankLoad) }
    public var selfBytes: [Double] { (0..<ranks).map { total(.selfBytes, rank: $0) } }
    public var bytesSent: [Double] { (0..<ranks).map { total(.bytesSent, rank: $0) } }
    public var bytesReceived: [Double] { (0..<ranks).map { total(.bytesReceived, rank: $0) } }
    /// Capacity of layer 0 at the first counted step, per rank (-1: dropless).
    public var capacity: [Int] { (0..<ranks).map { steps > 0 ? Int(value(.capacity, rank: $0, step: 0)) : -1 } }

    /// Bytes `rank` sent to other ranks in `phase` (dispatch or combine) per second spent
    /// in that phase, in GB/s (10⁹ B/s); 0 if no time was spent.
    public func bandwidth(_ phase: Phase, rank: Int, phases: PhaseSummary) -> Double {
        let field: Field = phase == .dispatch ? .dispatchOffRank : .combineOffRank
        let seconds = phases[phase].perRank[rank] * Double(steps)
        return seconds > 0 ? total(field, rank: rank) / seconds / 1e9 : 0
    }

    /// The mean over ranks of `bandwidth(phase, rank:)`.
    public func meanBandwidth(_ phase: Phase, phases: PhaseSummary) -> Double {
        guard ranks > 0 else { return 0 }
        return (0..<ranks).reduce(0) { $0 + bandwidth(phase, rank: $1, phases: phases) } / Double(ranks)
    }

    /// Expert GFLOP/s of `rank`: FLOPs of the rows it computed / its expert time.
    public func expertGFlops(rank: Int, phases: PhaseSummary) -> Double {
        let seconds = phases[.expert].perRank[rank] * Double(steps)
        return seconds > 0 ? total(.expertFlops, rank: rank) / seconds / 1e9 : 0
    }

    /// All ranks' expert FLOPs / all ranks' expert time.
    public func expertGFlops(phases: PhaseSummary) -> Double {
        let flops = (0..<ranks).reduce(0) { $0 + total(.expertFlops, rank: $1) }
        let seconds = phases[.expert].perRank.reduce(0, +) * Double(steps)
        return seconds > 0 ? flops / seconds / 1e9 : 0
    }

    /// Mean over steps of the per-step load-balancing figures.
    public var auxLoss: Double { mean(auxLossPerStep) }
    public var importanceCV2: Double { mean(importanceCV2PerStep) }

    private func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }

    // MARK: JSON

    /// `routing.per_step`: one object per counted step.
    func perStepJSON() -> JSONValue {
        .array((0..<steps).map { s in
            let assignments = sum(.assignments, step: s)
            func rate(_ f: Field) -> Double { assignments > 0 ? sum(f, step: s) / assignments : 0 }
            let load = expertLoad(step: s), rankLoad = rankLoad(step: s)
            return .object([
                ("step", .int(s)),
                ("tokens", .int(Int(sum(.tokens, step: s)))),
                ("assignments", .int(Int(assignments))),
                ("accepted", .int(Int(sum(.accepted, step: s)))),
                ("rerouted", .int(Int(sum(.rerouted, step: s)))),
                ("dropped", .int(Int(sum(.dropped, step: s)))),
                ("drop_rate", .double(rate(.dropped))),
                ("reroute_rate", .double(rate(.rerouted))),
                ("dropped_weight", .double(sum(.droppedWeight, step: s))),
                ("expert_load", .array(load.map { .int(Int($0)) })),
                ("expert_imbalance", .double(LoadStatistics.imbalance(load))),
                ("rank_load", .array(rankLoad.map { .int(Int($0)) })),
                ("rank_imbalance", .double(LoadStatistics.imbalance(rankLoad))),
                ("aux_loss", .double(auxLossPerStep[s])),
                ("importance_cv2", .double(importanceCV2PerStep[s])),
                ("bytes_sent", .int(Int(sum(.bytesSent, step: s)))),
            ])
        })
    }
}
