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

    public init(config: SimConfig, transport: String, ranks: Int, layout: ExpertLayout,
                perRank: [RoutingTotals]) {
        self.config = config
        self.transport = transport
        self.ranks = ranks
        self.layout = layout
        self.perRank = perRank
        self.total = RoutingTotals.sum(perRank, experts: config.model.experts)
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
        return lines.joined(separator: "\n")
    }
}

extension String {
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
