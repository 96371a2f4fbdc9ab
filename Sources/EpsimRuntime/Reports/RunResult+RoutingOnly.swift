import EpsimCore

// The parts of the terminal report that every run prints, and the whole report of a
// `--routing-only` run (routing, capacity and the times of the two stages that ran).
extension RunResult {
    /// The expert load (after capacity) and demand (the router's choices, before
    /// capacity): every expert's count, or min, median and max for more than 32; then the
    /// zero-drop capacity factor.
    var routingLines: [String] {
        func line(_ name: String, _ v: [Int64]) -> String {
            if v.count <= 32 { return "expert \(name): " + v.map(String.init).joined(separator: " ") }
            let sorted = v.sorted()
            return "expert \(name) (\(sorted.count) experts): min \(sorted.first!) · median \(sorted[sorted.count / 2])"
                + " · max \(sorted.last!) (per expert in --output)"
        }
        return [line("load", total.expertLoad), line("demand", metrics.demand.values(.demand)), zeroDropLine]
    }

    /// The smallest capacity factor under which every demand fits (docs/semantics.md).
    var zeroDropLine: String {
        if config.capacity.value != nil { return "zero-drop capacity factor: n/a (capacity.value sets C)" }
        let steps = metrics.zeroDropFactorPerStepAllLayers
        return "zero-drop capacity factor: \(String(format3: metrics.zeroDropFactor))"
            + (steps.count > 1 ? " (per step \(String(format3: steps.min()!)) to \(String(format3: steps.max()!)))" : "")
            + " · configured " + (config.capacity.factor.map { String(format3: $0) } ?? "none")
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
        let m = config.model
        var lines: [String] = []
        lines.append("epsim \(EpsimVersion.string) · \(config.sourcePath ?? "config") · \(environment.transport), "
                     + "\(ranks) ranks · routing only (no dispatch, experts or combine)")
        lines.append("layout: \(m.experts) experts top-\(m.topK) on \(ranks) ranks"
                     + (layout.isReplicated ? " (replicated)" : "") + " · \(m.layers) layer(s) · " + routingLayoutText)
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
