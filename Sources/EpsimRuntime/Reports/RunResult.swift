import EpsimCore

/// Everything a finished run reports, on rank 0: the terminal report and the result
/// JSON (schema `epsim.result/1`, keys documented in docs/results.md). Keys are only
/// ever added, never renamed.
public struct RunResult {
    public static let schema = "epsim.result/1"

    public let config: SimConfig
    public let environment: RunEnvironment
    public let layout: ExpertLayout
    /// Routing totals per rank, summed over counted steps and layers.
    public let perRank: [RoutingTotals]
    public let total: RoutingTotals
    public let phases: PhaseSummary
    public let traffic: TrafficMatrix
    public let metrics: RunMetrics
    /// Timed intervals per rank (`PhaseTimer.events` layout), when a trace was asked for.
    public let events: [[Double]]
    public let verification: Verification?
    /// The same run's time on a target system (`epsim run --system`), nil without one.
    public var modeled: ModeledRun?
    /// `--modeled-only`: the report shows the modeled times, not the host's.
    public var modeledOnly = false
    /// `--routing-only`: only routing ran; the report shows routing, capacity and the
    /// route and permute (capacity) times.
    public var routingOnly = false
    /// `epsim estimate`: how long it took and how fast it decided (nil for a run).
    public var estimate: EstimateFigures? = nil
    /// Above this many ranks the JSON leaves out the P × P traffic matrices (null).
    public var matrixRanks: Int? = nil
    /// Rank 0's host before the run (`epsim run` sets it): the report's first lines warn
    /// when it had fewer cores than ranks, or was busy (`hostWarning`).
    public var host: HostLoad?

    public init(config: SimConfig, environment: RunEnvironment, layout: ExpertLayout,
                perRank: [RoutingTotals], phases: PhaseSummary, traffic: TrafficMatrix,
                metrics: RunMetrics, events: [[Double]] = [], verification: Verification?) {
        self.config = config
        self.environment = environment
        self.layout = layout
        self.perRank = perRank
        self.total = RoutingTotals.sum(perRank, experts: config.model.experts)
        self.phases = phases
        self.traffic = traffic
        self.metrics = metrics
        self.events = events
        self.verification = verification
    }

    public var ranks: Int { environment.ranks }

    private func matrix(_ m: [[Int64]]) -> JSONValue {
        .array(m.map { .array($0.map { .int(Int($0)) }) })
    }

    private func doubles(_ v: [Double]) -> JSONValue { .array(v.map { .double($0) }) }
    private func ints(_ v: [Double]) -> JSONValue { .array(v.map { .int(Int($0)) }) }

    private var phasesJSON: JSONValue {
        .object(Phase.allCases.map { phase in
            let f = phases[phase]
            return (phase.description, .object([
                ("median_ms", .double(f.median * 1e3)), ("min_ms", .double(f.min * 1e3)),
                ("max_ms", .double(f.max * 1e3)), ("slowest_rank", .int(f.slowestRank)),
                ("slowest_rank_mean_ms", .double(f.slowestMean * 1e3)),
                ("share_of_step", .double(phases.share(phase))),
                ("per_rank_mean_ms", .array(f.perRank.map { .double($0 * 1e3) })),
            ]))
        } + [("samples", .int(phases.ranks * phases.steps)),
             ("communication_share", .double(phases.communicationShare)),
             ("compute_share", .double(computeShare)),
             ("overhead_share", .double(overheadShare))])
    }

    /// Time in the phases that compute on the rank (route, permute, expert, unpermute,
    /// shared) as a share of step time (see `PhaseSummary.share`).
    public var computeShare: Double {
        [Phase.route, .permute, .expert, .unpermute, .shared].reduce(0) { $0 + phases.share($1) }
    }

    /// Step time outside every phase (the loop's own overhead), as a share.
    public var overheadShare: Double {
        max(0, 1 - phases.communicationShare - computeShare - phases.share(.wait))
    }

    private var trafficJSON: JSONValue {
        let matrices = ranks <= (matrixRanks ?? Int.max)
        return .object([
            ("bytes", matrices ? matrix(traffic.bytes) : .null),
            ("dispatch_bytes", matrices ? matrix(traffic.dispatch) : .null),
            ("combine_bytes", matrices ? matrix(traffic.combine) : .null),
            ("total_bytes", .int(Int(traffic.totalBytes))),
            ("off_rank_bytes", .int(Int(traffic.offRankBytes))),
            ("self_bytes", .int(Int(traffic.totalBytes - traffic.offRankBytes))),
            ("self_bytes_per_rank", ints(metrics.selfBytes)),
            ("sent_per_rank", .array(traffic.sentPerRank.map { .int(Int($0)) })),
            ("received_per_rank", .array(traffic.receivedPerRank.map { .int(Int($0)) })),
            ("bandwidth_gbps", .object([
                ("dispatch", .double(metrics.meanBandwidth(.dispatch, phases: phases))),
                ("combine", .double(metrics.meanBandwidth(.combine, phases: phases))),
                ("dispatch_per_rank", doubles((0..<ranks).map { metrics.bandwidth(.dispatch, rank: $0, phases: phases) })),
                ("combine_per_rank", doubles((0..<ranks).map { metrics.bandwidth(.combine, rank: $0, phases: phases) })),
            ])),
        ])
    }

    /// With `compute: modeled`, what the simulated device takes for the experts per step,
    /// milliseconds: per counted step the slowest rank's `ExpertCost.seconds` of the
    /// FLOPs it computed (the critical path waits for it), mean over counted steps; nil
    /// with real compute.
    public var modeledDeviceMs: Double? {
        guard case let .modeled(tflops, efficiency) = config.compute else { return nil }
        guard metrics.steps > 0 else { return 0 }
        var sum = 0.0
        for s in 0..<metrics.steps {
            sum += (0..<ranks).reduce(0.0) { slowest, r in
                max(slowest, ExpertCost.seconds(flops: metrics.value(.expertFlops, rank: r, step: s),
                                                tflops: tflops, efficiency: efficiency))
            }
        }
        return sum / Double(metrics.steps) * 1e3
    }

    /// The first lines' warning about the host (`HostLoad.measuredTimesWarning`), nil
    /// without `host` or when there is nothing to warn of.
    public var hostWarning: String? {
        host?.measuredTimesWarning(ranksOnHost: environment.ranksOnFirstHost, modeled: modeled != nil)
    }

    private var computeJSON: JSONValue {
        let modeled = config.compute.isModeled
        return .object([
            ("mode", .string(modeled ? "modeled" : "real")),
            ("modeled_device_ms", modeledDeviceMs.map { .double($0) } ?? .null),
            ("expert_gflops", .double(metrics.expertGFlops(phases: phases))),
            ("expert_gflops_per_rank", doubles((0..<ranks).map { metrics.expertGFlops(rank: $0, phases: phases) })),
        ])
    }

    private var memoryJSON: JSONValue {
        .object([
            ("peak_rss_bytes", .int(Int(metrics.peakResidentBytes.max() ?? 0))),
            ("peak_rss_bytes_per_rank", .array(metrics.peakResidentBytes.map { .int(Int($0)) })),
        ])
    }

    private var verificationJSON: JSONValue {
        guard let v = verification else { return .object([("ran", .bool(false))]) }
        return .object([
            ("ran", .bool(true)), ("decisions_match", .bool(v.decisionsMatch)),
            ("max_rel_error", .double(v.maxRelError)), ("tolerance", .double(v.tolerance)),
            ("passed", .bool(v.passed)), ("step", .int(v.step)), ("layers", .int(v.layers)),
            ("first_mismatch", v.firstMismatch.map { .string($0) } ?? .null),
            ("non_finite", v.nonFinite.map { .string($0) } ?? .null),
        ])
    }

    private func rate(_ n: Int64) -> Double {
        total.assignments == 0 ? 0 : Double(n) / Double(total.assignments)
    }

    public var dropRate: Double { rate(total.dropped) }
    public var rerouteRate: Double { rate(total.rerouted) }

    /// `routing.capacity_per_layer`: [layer][rank], null when dropless.
    private var capacityPerLayerJSON: JSONValue {
        let c = metrics.capacityPerLayer, L = config.model.layers
        if c.allSatisfy({ $0.allSatisfy { $0 < 0 } }) { return .null }
        return .array((0..<L).map { l in .array(c.map { $0[l] < 0 ? .null : .int($0[l]) }) })
    }

    /// `routing.zero_drop_capacity_factor` and its kin are null with `capacity.value`
    /// (no factor applies).
    private func zeroDropJSON(_ v: Double) -> JSONValue { config.capacity.value == nil ? .double(v) : .null }
    private func zeroDropJSON(_ v: [Double]) -> JSONValue {
        config.capacity.value == nil ? .array(v.map { .double($0) }) : .null
    }

    /// `routing.per_layer`: demand before capacity and where it went, per layer.
    private var perLayerJSON: JSONValue {
        let d = metrics.demand
        func field(_ f: RoutingDemand.Field, _ l: Int) -> JSONValue { .array(d.values(f, layer: l).map { .int(Int($0)) }) }
        return .array((0..<d.layers).map { l in
            .object([
                ("layer", .int(l)),
                ("demand", field(.demand, l)), ("accepted", field(.accepted, l)),
                ("rerouted_in", field(.reroutedIn, l)), ("rerouted_out", field(.reroutedOut, l)),
                ("dropped", field(.dropped, l)),
                ("zero_drop_capacity_factor", zeroDropJSON(metrics.zeroDropFactorPerStep(layer: l).max() ?? 0)),
                ("zero_drop_capacity_factor_per_step", zeroDropJSON(metrics.zeroDropFactorPerStep(layer: l))),
            ])
        })
    }

    public func json() -> JSONValue {
        func counts(_ t: RoutingTotals) -> [(String, JSONValue)] {
            [("assignments", .int(Int(t.assignments))), ("accepted", .int(Int(t.accepted))),
             ("rerouted", .int(Int(t.rerouted))), ("dropped", .int(Int(t.dropped)))]
        }
        let capacity = metrics.capacity
        let routing: [(String, JSONValue)] = counts(total) + [
            ("drop_rate", .double(dropRate)),
            ("reroute_rate", .double(rerouteRate)),
            ("dropped_weight", .double(total.droppedWeight)),
            ("dropped_weight_share", .double(total.droppedWeightShare)),
            ("expert_load", .array(total.expertLoad.map { .int(Int($0)) })),
            ("demand", .array(metrics.demand.values(.demand).map { .int(Int($0)) })),
            ("zero_drop_capacity_factor", zeroDropJSON(metrics.zeroDropFactor)),
            ("zero_drop_capacity_factor_per_step", zeroDropJSON(metrics.zeroDropFactorPerStepAllLayers)),
            ("per_layer", perLayerJSON),
            ("expert_imbalance", .double(total.expertImbalance)),
            ("rank_load", ints(metrics.rankLoad)),
            ("rank_imbalance", .double(metrics.rankImbalance)),
            ("capacity", capacity.allSatisfy { $0 < 0 } ? .null : .array(capacity.map { .int($0) })),
            ("capacity_per_layer", capacityPerLayerJSON),
            ("aux_loss", .double(metrics.auxLoss)),
            ("importance_cv2", .double(metrics.importanceCV2)),
            ("exchange_rounds", .int(Int(total.exchangeRounds))),
            ("accounting_closes", .bool(perRank.allSatisfy(\.closes) && total.closes)),
            ("per_rank", .array(perRank.enumerated().map { r, t in
                .object([("rank", .int(r))] + counts(t) + [
                    ("dropped_weight", .double(t.droppedWeight)),
                    ("capacity", capacity[r] < 0 ? .null : .int(capacity[r])),
                    ("capacity_per_layer", .array(metrics.capacityPerLayer[r].map { $0 < 0 ? .null : .int($0) })),
                    ("load", .int(Int(metrics.rankLoad[r]))),
                    ("expert_load", .array(t.expertLoad.map { .int(Int($0)) }))])
            })),
            ("per_step", metrics.perStepJSON()),
        ]
        return .object([
            ("schema", .string(Self.schema)),
            ("epsim_version", .string(EpsimVersion.string)),
            ("config", ConfigLoader.resolvedJSON(config)),
            ("environment", environment.json),
            ("steps", .object([
                ("counted", .int(config.steps)), ("warmup", .int(config.warmupSteps)),
                ("layers", .int(config.model.layers)),
            ])),
            ("routing", .object(routing)),
            ("phases", phasesJSON),
            ("traffic", trafficJSON),
            ("compute", computeJSON),
            ("memory", memoryJSON),
            ("verification", verificationJSON),
            ("routing_only", .bool(routingOnly)),
        ] + (modeled.map { [("modeled", $0.json)] } ?? []) + (estimate.map { [("estimate", $0.json)] } ?? []))
    }

    /// A compact summary a person reads in seconds.
    public func terminalReport() -> String {
        if routingOnly { return routingOnlyReport() }
        let m = config.model
        let hosts = environment.distinctHosts
        var lines: [String] = []
        lines.append("epsim \(EpsimVersion.string) · \(config.sourcePath ?? "config") · \(environment.transport), "
                     + "\(ranks) ranks on \(hosts.count) host\(hosts.count == 1 ? "" : "s")"
                     + (environment.sync ? " · --sync" : ""))
        if let hostWarning { lines.append(hostWarning) }
        lines.append("layout: \(m.experts) experts top-\(m.topK)"
                     + (m.sharedExperts > 0 ? " + \(m.sharedExperts) shared" : "")
                     + " on \(ranks) ranks" + (layout.isReplicated ? " (replicated)" : "")
                     + " · H \(m.hidden) F \(m.ffn) \(m.activation.rawValue) · \(m.layers) layer(s)"
                     + " · " + routingLayoutText)
        if let idle = idleRanksNote { lines.append(idle) }
        lines.append("steps: \(config.steps) counted after \(config.warmupSteps) warm-up · "
                     + "\(config.precision.dispatch.rawValue) dispatch, \(config.precision.combine.rawValue) combine"
                     + (isModeled ? " · modeled compute" : ""))
        if !modeledOnly {
            lines.append("phase        median ms     min ms     max ms  slowest rank (ms)   share"
                         + (modeled.map { " │ " + $0.tableHeader } ?? ""))
            for phase in Phase.allCases where phase != .wait || environment.sync {
                let f = phases[phase]
                lines.append(phase.description.padding(10) + ms(f.median).leftPadding(12) + ms(f.min).leftPadding(11)
                             + ms(f.max).leftPadding(11) + "\(f.slowestRank) (\(ms(f.slowestMean)))".leftPadding(19)
                             + percent(phases.share(phase)).leftPadding(8)
                             + (modeled.map { " │ " + $0.tableRow(phase) } ?? ""))
            }
            let expertShare = phases.share(.expert) + phases.share(.shared)
            lines.append("time: communication \(percent(phases.communicationShare)) · compute \(percent(computeShare))"
                         + " (experts \(percent(expertShare)), routing and permutation \(percent(computeShare - expertShare)))"
                         + (environment.sync ? " · wait \(percent(phases.share(.wait)))" : "")
                         + " · outside phases \(percent(overheadShare))")
        } else if let modeled {
            lines.append("phase     " + modeled.tableHeader)
            for phase in Phase.allCases where phase != .wait {
                lines.append(phase.description.padding(10) + modeled.tableRow(phase))
            }
        }
        if let modeled { lines += modeled.summaryLines() }
        lines.append("routing: drop \(percent(dropRate)) · reroute \(percent(rerouteRate))"
                     + " · weight lost \(percent(total.droppedWeightShare))"
                     + " · imbalance expert \(String(format2: total.expertImbalance)) rank \(String(format2: metrics.rankImbalance))"
                     + " · aux loss \(String(format3: metrics.auxLoss)) · importance CV² \(String(format3: metrics.importanceCV2))")
        lines += routingLines
        if modeledOnly {
            // Only what the run decided and moved: its host times are not reported.
            lines.append("traffic: \(byteText(traffic.totalBytes)) (\(byteText(traffic.offRankBytes)) between ranks)"
                         + " · peak RSS \(byteText(metrics.peakResidentBytes.max() ?? 0))")
        } else {
            lines += measuredTrafficAndExperts
        }
        lines.append(accountingLine)
        if let estimate { lines.append(estimate.line) }
        if let v = verification {
            lines.append("verification (step \(v.step), \(v.layers) layer(s)): decisions_match \(v.decisionsMatch),"
                         + " max_rel_error \(v.maxRelError) (tolerance \(v.tolerance)): " + (v.passed ? "PASS" : "FAIL"))
        }
        return lines.joined(separator: "\n")
    }

    /// A note when some ranks hold no expert (more ranks than experts and copies): their
    /// expert time is 0, which pulls a median over ranks down.
    var idleRanksNote: String? {
        let idle = layout.local.filter(\.isEmpty).count
        guard idle > 0 else { return nil }
        return "note: \(idle) of \(ranks) ranks hold no expert (\(layout.experts) experts"
            + (layout.isReplicated ? " and their copies" : "") + "): they only send and receive, and a median over ranks"
            + " counts their zero expert time; copies on them: placement.kind eplb with placement.redundant_experts"
    }

    /// The measured traffic bandwidth and expert rate lines of the terminal report.
    private var measuredTrafficAndExperts: [String] {
        var lines: [String] = []
        lines.append("traffic: \(byteText(traffic.totalBytes)) (\(byteText(traffic.offRankBytes)) between ranks)"
                     + " · bandwidth dispatch \(String(format2: metrics.meanBandwidth(.dispatch, phases: phases))) GB/s"
                     + " combine \(String(format2: metrics.meanBandwidth(.combine, phases: phases))) GB/s per rank"
                     + (environment.sync ? " (the --sync wait excluded)" : " (waiting for peers included)"))
        if let device = modeledDeviceMs {
            // Modeled compute sleeps: a measured rate would be the sleep's, not a
            // device's. What the simulated device takes, on the rank the step waits for.
            lines.append("experts: modeled compute: the device takes \(String(format3: device)) ms per step on the slowest rank"
                         + " (the critical path; mean over counted steps)"
                         + " · peak RSS \(byteText(metrics.peakResidentBytes.max() ?? 0))")
        } else {
            lines.append("experts: \(String(format2: metrics.expertGFlops(phases: phases))) GFLOP/s measured"
                         + " · peak RSS \(byteText(metrics.peakResidentBytes.max() ?? 0))")
        }
        return lines
    }

    private var isModeled: Bool { config.compute.isModeled }
}

extension RunResult {
    /// The routing part of the layout line, shared by the full and the routing-only
    /// report: "zipf workload · cf 1.00 local score · drop + renormalize".
    var routingLayoutText: String {
        let c = config.capacity, o = config.overflow
        return "\(config.workload.name) workload · \(c.layoutText) \(c.scope.rawValue) \(c.priority.rawValue)"
            + " · \(o.policy.rawValue)" + (o.renormalize ? " + renormalize" : "")
    }
}

extension CapacityConfig {
    /// How C is set, for a report's layout line: "C 16" (`capacity.value`), "cf 1.25"
    /// (with " float32" for DeepSpeed's rounding), or "cf none" (dropless).
    var layoutText: String {
        if let value { return "C \(value)" }
        guard let factor else { return "cf none" }
        return "cf \(String(format2: factor))" + (rounding == .float32 ? " float32" : "")
    }
}
