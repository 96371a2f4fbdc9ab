import EpsimCore

// The whole report of a `--routing-only` run (routing, capacity and the times of the two
// stages that ran); the lines it shares with every run's report are in
// RunResult+ReportLines.swift.
extension RunResult {
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
