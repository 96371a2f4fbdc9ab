import EpsimCore

// The parts of the terminal report that every run prints, and the whole report of a
// `--routing-only` run (routing, capacity and the times of the two stages that ran).
extension RunResult {
    /// The expert load: every expert's count, or min, median and max for more than 32.
    var routingLines: [String] {
        if total.expertLoad.count <= 32 {
            return ["expert load: " + total.expertLoad.map(String.init).joined(separator: " ")]
        }
        let sorted = total.expertLoad.sorted()
        return ["expert load (\(sorted.count) experts): min \(sorted.first!) · median \(sorted[sorted.count / 2])"
                + " · max \(sorted.last!) (per expert in --output)"]
    }

    /// Whether T·k = accepted + rerouted + dropped held on every rank.
    var accountingLine: String {
        let closes = perRank.allSatisfy(\.closes) && total.closes
        return "accounting: \(total.assignments) assignments = \(total.accepted) accepted + \(total.rerouted) rerouted"
            + " + \(total.dropped) dropped on every rank: " + (closes ? "yes" : "NO")
    }

    /// The capacity per rank of layer 0 (and whether other layers differ): `capacity C`
    /// when every rank has the same, the list otherwise, `none` when dropless.
    var capacityText: String {
        let c = metrics.capacity
        if c.allSatisfy({ $0 < 0 }) { return "none (dropless)" }
        let scope = config.capacity.scope == .global ? " (world)" : " per source rank"
        return (Set(c).count == 1 ? "\(c[0])" : c.map(String.init).joined(separator: " ")) + scope
    }

    /// The report of a `--routing-only` run.
    func routingOnlyReport() -> String {
        let m = config.model, c = config.capacity, o = config.overflow
        var lines: [String] = []
        lines.append("epsim \(EpsimVersion.string) · \(config.sourcePath ?? "config") · \(environment.transport), "
                     + "\(ranks) ranks · routing only (no dispatch, experts or combine)")
        lines.append("layout: \(m.experts) experts top-\(m.topK) on \(ranks) ranks"
                     + (layout.isReplicated ? " (replicated)" : "") + " · \(m.layers) layer(s)"
                     + " · \(config.workload.name) workload · \(c.layoutText) \(c.scope.rawValue) \(c.priority.rawValue)"
                     + " · \(o.policy.rawValue)" + (o.renormalize ? " + renormalize" : ""))
        let tokens = (0..<ranks).map { config.tokens(rank: $0, size: ranks) }
        lines.append("steps: \(config.steps) counted after \(config.warmupSteps) warm-up · tokens per rank "
                     + (Set(tokens).count == 1 ? "\(tokens[0])" : tokens.map(String.init).joined(separator: " "))
                     + " · capacity \(capacityText)")
        lines.append("time (median ms over ranks and steps): route \(ms(phases[.route].median))"
                     + " · capacity and overflow \(ms(phases[.permute].median))")
        lines.append("routing: drop \(percent(dropRate)) (\(total.dropped)) · reroute \(percent(rerouteRate)) (\(total.rerouted))"
                     + " · weight lost \(percent(total.droppedWeightShare))"
                     + " · imbalance expert \(String(format2: total.expertImbalance))"
                     + " · aux loss \(String(format3: metrics.auxLoss)) · importance CV² \(String(format3: metrics.importanceCV2))")
        lines += routingLines
        lines.append(accountingLine)
        return lines.joined(separator: "\n")
    }
}
