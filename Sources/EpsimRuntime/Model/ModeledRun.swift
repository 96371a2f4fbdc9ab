import EpsimCore

/// A run's modeled time on a target system: `StepModel.evaluate` on every counted step's
/// gathered traffic (`ModelObserver`). The same layout, seed and system always give the
/// same numbers (the model reads decisions and bytes, never a clock).
///
/// Reduced for reports like the measured phases: per phase, each rank's mean over
/// counted steps (`perRankMs`), their median and max; the step is the critical path
/// across ranks (mean over steps). Bytes are summed over counted steps, as the measured
/// traffic matrix is.
public struct ModeledRun: Sendable {
    public let system: SystemSpec
    /// One per counted step.
    public let steps: [ModeledStep]
    public let ranks: Int
    /// The model's input of the last counted step (nil without steps).
    public let lastTraffic: StepTraffic?

    /// `steps`: every counted step modeled on `system` (`ModelObserver.modeled`), in
    /// order; `lastTraffic`: the last one's traffic.
    public init(system: SystemSpec, steps: [ModeledStep], lastTraffic: StepTraffic?, ranks: Int) {
        self.system = system
        self.steps = steps
        self.lastTraffic = lastTraffic
        self.ranks = ranks
    }

    private func mean(_ f: (ModeledStep) -> Double) -> Double {
        steps.isEmpty ? 0 : steps.reduce(0) { $0 + f($1) } / Double(steps.count)
    }

    /// [P]: each rank's mean over counted steps, milliseconds.
    public func perRankMs(_ phase: ModeledPhase) -> [Double] {
        (0..<ranks).map { r in mean { ($0.perRank[phase]?[r] ?? 0) } * 1e3 }
    }

    /// The median and the largest over ranks of `perRankMs(phase)`.
    public func medianMs(_ phase: ModeledPhase) -> Double { median(perRankMs(phase)) }
    public func maxMs(_ phase: ModeledPhase) -> Double { perRankMs(phase).max() ?? 0 }
    /// The rank with the largest mean time in `phase` (the lowest such rank on ties).
    public func slowestRank(_ phase: ModeledPhase) -> Int {
        let v = perRankMs(phase)
        return v.indices.max { v[$0] < v[$1] || (v[$0] == v[$1] && $0 > $1) } ?? 0
    }

    /// What the step waits for in `phase`, milliseconds: per layer and chunk the slowest
    /// rank's time (an all-to-all's end for every rank), summed, mean over counted steps.
    public func criticalMs(_ phase: ModeledPhase) -> Double { mean { $0.criticalSeconds[phase] ?? 0 } * 1e3 }

    /// The modeled time a rank's measured median of `phase` (with `--sync`) is compared
    /// with: for dispatch and combine the all-to-all's end for every rank, its slowest
    /// participant (`criticalMs`), which is what a rank measures behind the barrier; for
    /// the other phases each rank's own time, median over ranks (`medianMs`).
    public func comparableMs(_ phase: ModeledPhase) -> Double {
        phase == .dispatch || phase == .combine ? criticalMs(phase) : medianMs(phase)
    }

    /// Dispatch and combine as a share of the step's critical path (at most 1: with
    /// overlap chunks the exchanges partly hide behind the experts).
    public var communicationShare: Double {
        stepMs > 0 ? min(1, (criticalMs(.dispatch) + criticalMs(.combine)) / stepMs) : 0
    }

    /// The critical path of a step, milliseconds (mean over counted steps).
    public var stepMs: Double { mean(\.stepSeconds) * 1e3 }
    public var selfBytes: Int64 { steps.reduce(0) { $0 + $1.selfBytes } }
    public var intraNodeBytes: Int64 { steps.reduce(0) { $0 + $1.intraNodeBytes } }
    public var interNodeBytes: Int64 { steps.reduce(0) { $0 + $1.interNodeBytes } }
    public var dispatchBottleneckGBps: Double { mean(\.dispatchBottleneckGBps) }
    public var combineBottleneckGBps: Double { mean(\.combineBottleneckGBps) }
    /// DeepEP's bandwidth as its tests count it (`ModeledStep.deepEPDispatchGBps`), mean
    /// over counted steps.
    public var deepEPDispatchGBps: Double { mean(\.deepEPDispatchGBps) }
    public var deepEPCombineGBps: Double { mean(\.deepEPCombineGBps) }
    /// [P]: bytes each rank kept on its device, summed over counted steps.
    public var selfBytesPerRank: [Int64] {
        (0..<ranks).map { r in steps.reduce(0) { $0 + ($1.selfBytesPerRank.indices.contains(r) ? $1.selfBytesPerRank[r] : 0) } }
    }

    /// [P]: bytes each rank moved in `direction`, summed over counted steps.
    public func linkBytesPerRank(_ direction: LinkDirection) -> [Int64] {
        (0..<ranks).map { r in
            steps.reduce(0) { $0 + ($1.linkBytesPerRank.indices.contains(r) ? $1.linkBytesPerRank[r][direction.rawValue] : 0) }
        }
    }

    /// The busiest link of the run: the one bounding its longest exchange, over every
    /// counted step (the earliest such step on ties).
    public var busiestLink: String {
        steps.max { $0.longestExchangeSeconds < $1.longestExchangeSeconds }?.busiestLink ?? "-"
    }

    /// Nodes the system puts the run's ranks on.
    public var nodeCount: Int { lastTraffic?.nodes ?? 1 }

    /// How reports head the modeled figures.
    public var label: String { "modeled on \(system.name)" }

    /// The `modeled` object of `epsim.result/1` (docs/results.md).
    public var json: JSONValue {
        .object([
            ("system", .object([("name", .string(system.name)), ("digest", .string(system.digest)),
                                ("file", system.sourcePath.map { .string($0) } ?? .null),
                                ("all_to_all", .string(system.allToAll.rawValue)),
                                ("devices_per_node", .int(system.devicesPerNode)),
                                ("execution", .string(system.device.execution.rawValue))])),
            ("phases", .object(ModeledPhase.allCases.map { phase in
                (phase.rawValue, .object([
                    ("per_rank_ms", .array(perRankMs(phase).map { .double($0) })),
                    ("median_ms", .double(medianMs(phase))),
                    ("max_ms", .double(maxMs(phase))),
                    ("slowest_rank", .int(slowestRank(phase))),
                    ("critical_ms", .double(criticalMs(phase))),
                ]))
            })),
            ("step_ms", .double(stepMs)),
            ("communication_share", .double(communicationShare)),
            ("traffic", .object([
                ("self_bytes", .int(Int(selfBytes))),
                ("intra_node_bytes", .int(Int(intraNodeBytes))),
                ("inter_node_bytes", .int(Int(interNodeBytes))),
                ("busiest_link", .string(busiestLink)),
                ("per_rank", .object([("self_bytes", .array(selfBytesPerRank.map { .int(Int($0)) }))]
                    + LinkDirection.allCases.map { d in
                        (d.key + "_bytes", .array(linkBytesPerRank(d).map { .int(Int($0)) }))
                    })),
            ])),
            ("dispatch_bottleneck_gbps", .double(dispatchBottleneckGBps)),
            ("combine_bottleneck_gbps", .double(combineBottleneckGBps)),
            ("deepep_dispatch_gbps", .double(deepEPDispatchGBps)),
            ("deepep_combine_gbps", .double(deepEPCombineGBps)),
        ])
    }
}

extension LinkDirection {
    /// The result file's name of the direction.
    var key: String {
        switch self {
        case .nvlinkOut: return "nvlink_out"
        case .nvlinkIn: return "nvlink_in"
        case .nicOut: return "nic_out"
        case .nicIn: return "nic_in"
        }
    }
}

extension Phase {
    /// The modeled phase of the same name (nil for `wait` and `step`).
    var modeled: ModeledPhase? { ModeledPhase(rawValue: description) }
}
