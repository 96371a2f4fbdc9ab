import EpsimCore

/// Everything a finished run reports, on rank 0: the terminal report and the result
/// JSON (schema `epsim.result/1`, keys documented in docs/results.md). Keys are only
/// ever added, never renamed.
public struct RunResult {
    public static let schema = "epsim.result/1"

    public let config: SimConfig
    public let transport: String
    public let ranks: Int
    public let layout: ExpertLayout
    /// Routing totals per rank, summed over counted steps and layers.
    public let perRank: [RoutingTotals]
    public let total: RoutingTotals
    public let phases: PhaseSummary
    public let traffic: TrafficMatrix
    public let verification: Verification?

    public init(config: SimConfig, transport: String, ranks: Int, layout: ExpertLayout,
                perRank: [RoutingTotals], phases: PhaseSummary, traffic: TrafficMatrix,
                verification: Verification?) {
        self.config = config
        self.transport = transport
        self.ranks = ranks
        self.layout = layout
        self.perRank = perRank
        self.total = RoutingTotals.sum(perRank, experts: config.model.experts)
        self.phases = phases
        self.traffic = traffic
        self.verification = verification
    }

    private func matrix(_ m: [[Int64]]) -> JSONValue {
        .array(m.map { .array($0.map { .int(Int($0)) }) })
    }

    private var phasesJSON: JSONValue {
        .object(Phase.allCases.map { phase in
            let f = phases[phase]
            return (phase.description, .object([
                ("median_ms", .double(f.median * 1e3)), ("min_ms", .double(f.min * 1e3)),
                ("max_ms", .double(f.max * 1e3)), ("slowest_rank", .int(f.slowestRank)),
                ("slowest_rank_mean_ms", .double(f.slowestMean * 1e3)),
                ("per_rank_mean_ms", .array(f.perRank.map { .double($0 * 1e3) })),
            ]))
        } + [("samples", .int(phases.ranks * phases.steps)),
             ("communication_share", .double(phases.communicationShare))])
    }

    private var trafficJSON: JSONValue {
        .object([
            ("bytes", matrix(traffic.bytes)),
            ("dispatch_bytes", matrix(traffic.dispatch)),
            ("combine_bytes", matrix(traffic.combine)),
            ("total_bytes", .int(Int(traffic.totalBytes))),
            ("off_rank_bytes", .int(Int(traffic.offRankBytes))),
            ("sent_per_rank", .array(traffic.sentPerRank.map { .int(Int($0)) })),
            ("received_per_rank", .array(traffic.receivedPerRank.map { .int(Int($0)) })),
        ])
    }

    private var verificationJSON: JSONValue {
        guard let v = verification else { return .object([("ran", .bool(false))]) }
        return .object([
            ("ran", .bool(true)), ("decisions_match", .bool(v.decisionsMatch)),
            ("max_rel_error", .double(v.maxRelError)), ("tolerance", .double(v.tolerance)),
            ("passed", .bool(v.passed)), ("step", .int(v.step)), ("layers", .int(v.layers)),
            ("first_mismatch", v.firstMismatch.map { .string($0) } ?? .null),
        ])
    }

    private func rate(_ n: Int64) -> Double {
        total.assignments == 0 ? 0 : Double(n) / Double(total.assignments)
    }

    public func json() -> JSONValue {
        func counts(_ t: RoutingTotals) -> [(String, JSONValue)] {
            [("assignments", .int(Int(t.assignments))), ("accepted", .int(Int(t.accepted))),
             ("rerouted", .int(Int(t.rerouted))), ("dropped", .int(Int(t.dropped)))]
        }
        let routing: [(String, JSONValue)] = counts(total) + [
            ("drop_rate", .double(rate(total.dropped))),
            ("reroute_rate", .double(rate(total.rerouted))),
            ("dropped_weight", .double(total.droppedWeight)),
            ("expert_load", .array(total.expertLoad.map { .int(Int($0)) })),
            ("expert_imbalance", .double(total.expertImbalance)),
            ("exchange_rounds", .int(Int(total.exchangeRounds))),
            ("accounting_closes", .bool(perRank.allSatisfy(\.closes) && total.closes)),
            ("per_rank", .array(perRank.enumerated().map { r, t in
                .object([("rank", .int(r))] + counts(t) + [
                    ("expert_load", .array(t.expertLoad.map { .int(Int($0)) }))])
            })),
        ]
        return .object([
            ("schema", .string(Self.schema)),
            ("epsim_version", .string(EpsimVersion.string)),
            ("config", ConfigLoader.resolvedJSON(config)),
            ("environment", .object([
                ("transport", .string(transport)),
                ("ranks", .int(ranks)),
            ])),
            ("steps", .object([
                ("counted", .int(config.steps)), ("warmup", .int(config.warmupSteps)),
                ("layers", .int(config.model.layers)),
            ])),
            ("routing", .object(routing)),
            ("phases", phasesJSON),
            ("traffic", trafficJSON),
            ("verification", verificationJSON),
        ])
    }

    /// A compact summary a person reads in seconds.
    public func terminalReport() -> String {
        let m = config.model, c = config.capacity, o = config.overflow
        func pct(_ n: Int64) -> String { String(format2: 100 * rate(n)) + "%" }
        let factor = c.factor.map { String(format2: $0) } ?? "none"
        var lines: [String] = []
        lines.append("epsim \(EpsimVersion.string) · \(config.sourcePath ?? "config") · \(transport), \(ranks) ranks")
        lines.append("layout: \(m.experts) experts top-\(m.topK) on \(ranks) ranks"
                     + (layout.isReplicated ? " (replicated)" : "")
                     + " · \(config.workload.name) workload · cf \(factor) \(c.scope.rawValue) \(c.priority.rawValue)"
                     + " · \(o.policy.rawValue)" + (o.renormalize ? " + renormalize" : ""))
        lines.append("steps: \(config.steps) counted after \(config.warmupSteps) warm-up · \(m.layers) layer(s)")
        lines.append("routing: \(total.assignments) assignments: accepted \(total.accepted) (\(pct(total.accepted))),"
                     + " rerouted \(total.rerouted) (\(pct(total.rerouted))), dropped \(total.dropped) (\(pct(total.dropped)))")
        lines.append("expert load: " + total.expertLoad.map(String.init).joined(separator: " ")
                     + " · imbalance (max/mean) \(String(format2: total.expertImbalance))")
        let closes = perRank.allSatisfy(\.closes) && total.closes
        lines.append("accounting: T·k = accepted + rerouted + dropped on every rank: " + (closes ? "yes" : "NO"))
        lines.append("phase        median ms     min ms     max ms  slowest rank")
        for phase in Phase.allCases {
            let f = phases[phase]
            lines.append(pad(phase.description, 10) + pad(ms(f.median), 12, right: true) + pad(ms(f.min), 11, right: true)
                         + pad(ms(f.max), 11, right: true) + pad(String(f.slowestRank), 14, right: true))
        }
        lines.append("communication share of the step (median): \(String(format2: 100 * phases.communicationShare))%")
        lines.append("traffic: \(traffic.totalBytes) bytes, \(traffic.offRankBytes) between ranks"
                     + " (\(config.precision.dispatch.rawValue) dispatch, \(config.precision.combine.rawValue) combine)")
        if let v = verification {
            lines.append("verification (step \(v.step), \(v.layers) layer(s)): decisions_match \(v.decisionsMatch),"
                         + " max_rel_error \(v.maxRelError) (tolerance \(v.tolerance)): " + (v.passed ? "PASS" : "FAIL"))
        }
        return lines.joined(separator: "\n")
    }
}

private func ms(_ seconds: Double) -> String { String(format3: seconds * 1e3) }

private func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : s + fill
}

extension String {
    /// A number with three decimals.
    init(format3 value: Double) {
        guard value.isFinite else { self = "\(value)"; return }
        let scaled = (value * 1000).rounded()
        let magnitude = Int(abs(scaled))
        let fraction = String(magnitude % 1000)
        self = (scaled < 0 ? "-" : "") + "\(magnitude / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A number with two decimals, without Foundation's formatting.
    init(format2 value: Double) {
        guard value.isFinite else { self = "\(value)"; return }
        let scaled = (value * 100).rounded()
        let sign = scaled < 0 ? "-" : ""
        let magnitude = Int(abs(scaled))
        let fraction = magnitude % 100
        self = "\(sign)\(magnitude / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}
