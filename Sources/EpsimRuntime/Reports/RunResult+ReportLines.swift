import EpsimCore

// Lines of the terminal report that every run prints (a full run's report and a
// `--routing-only` run's): routing load and demand, the zero-drop capacity factor, the
// accounting check and the capacity.
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
}
