import EpsimCore

/// `epsim bench --system`: each phase of the run just measured beside its time modeled
/// on the system, and their relative error: how well the model predicts this host when
/// the system file is the one `epsim calibrate` wrote for it.
extension BenchReport {
    /// One phase: measured (median over ranks and counted steps, with `--sync`, so the
    /// exchanges are transfer time) and modeled.
    public struct ModeledRow: Sendable {
        public var phase: Phase
        public var measuredMs: Double
        public var modeledMs: Double
        /// (modeled − measured) / measured; nil when nothing was measured.
        public var relativeError: Double? { measuredMs > 0 ? (modeledMs - measuredMs) / measuredMs : nil }
    }

    /// Every phase the model covers, and the step. Empty without `--system`.
    ///
    /// Modeled: each rank's own time, median over ranks, as measured is; for dispatch and
    /// combine the all-to-all's end for every rank, its slowest participant
    /// (`criticalMs`), which is what a rank measures behind the `--sync` barrier.
    public var modeledRows: [ModeledRow] {
        guard let m = result.modeled else { return [] }
        let phases = result.phases
        return Phase.allCases.compactMap { phase in
            if phase == .step { return ModeledRow(phase: .step, measuredMs: phases[.step].median * 1e3, modeledMs: m.stepMs) }
            guard let p = phase.modeled else { return nil }
            // Without shared experts the host's shared stage is only the residual copy,
            // which the model does not count.
            if p == .shared && result.config.model.sharedExperts == 0 { return nil }
            return ModeledRow(phase: phase, measuredMs: phases[phase].median * 1e3, modeledMs: m.comparableMs(p))
        }
    }

    /// Dispatch plus combine, measured (median over ranks and steps of their sum) and
    /// modeled, and the error: the figure `epsim calibrate`'s fit is judged by.
    public var exchangeModelError: (measuredMs: Double, modeledMs: Double, relativeError: Double)? {
        guard let m = result.modeled else { return nil }
        let phases = result.phases
        var sums: [Double] = []
        for r in 0..<phases.ranks {
            for s in 0..<phases.steps {
                sums.append(phases.sample(rank: r, step: s, phase: .dispatch) + phases.sample(rank: r, step: s, phase: .combine))
            }
        }
        let measured = median(sums) * 1e3, modeled = m.criticalMs(.dispatch) + m.criticalMs(.combine)
        return (measured, modeled, measured > 0 ? (modeled - measured) / measured : 0)
    }

    var modeledText: [String] {
        guard let m = result.modeled else { return [] }
        var lines = ["phase        measured ms   \(m.label) ms   error"]
        for row in modeledRows {
            let error = row.relativeError.map(signedPercent) ?? "-"
            lines.append(row.phase.description.padding(10) + String(format3: row.measuredMs).leftPadding(14)
                         + String(format3: row.modeledMs).leftPadding(m.label.count + 6) + error.leftPadding(10))
        }
        if let e = exchangeModelError {
            lines.append("dispatch+combine: measured \(String(format3: e.measuredMs)) ms, modeled \(String(format3: e.modeledMs)) ms"
                         + " (\(signedPercent(e.relativeError)))")
        }
        return lines
    }

    var modeledJSON: JSONValue {
        guard let m = result.modeled else { return .null }
        var pairs: [(String, JSONValue)] = [("system", .string(m.system.name))]
        pairs.append(("phases", .object(modeledRows.map { row in
            (row.phase.description, .object([
                ("measured_ms", .double(row.measuredMs)), ("modeled_ms", .double(row.modeledMs)),
                ("relative_error", row.relativeError.map { .double($0) } ?? .null),
            ]))
        })))
        if let e = exchangeModelError {
            pairs.append(("dispatch_combine", .object([
                ("measured_ms", .double(e.measuredMs)), ("modeled_ms", .double(e.modeledMs)),
                ("relative_error", .double(e.relativeError)),
            ])))
        }
        return .object(pairs)
    }
}
