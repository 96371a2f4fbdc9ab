import EpsimCore

/// `epsim validate-model`'s tables: each `ValidationTable` (ModelValidation) with every
/// row's measured and modeled figure and error, then its median, held-out median and
/// largest error against its bound.
public enum ModelValidationText {
    public static func text(_ tables: [ValidationTable]) -> String {
        var lines: [String] = []
        for t in tables {
            lines.append("== \(t.title)")
            let width = max(24, (t.rows.map(\.label.count).max() ?? 0) + 2)
            let truth = t.title.contains("DeepEP") ? "published" : "measured"
            lines.append("case".padding(width) + "\(truth) \(t.unit)".leftPadding(16) + "modeled \(t.unit)".leftPadding(16)
                         + "error".leftPadding(10))
            for row in t.rows {
                lines.append(row.label.padding(width) + String(format3: row.measured).leftPadding(16)
                             + String(format3: row.modeled).leftPadding(16)
                             + signedPercent(row.relativeError).leftPadding(10) + (row.fitted ? "  (fitted)" : ""))
            }
            let ok = t.medianError <= t.bound
            lines.append("median |error| \(percent(t.medianError)) (held out \(percent(t.heldOutMedianError)))"
                         + " · max \(percent(t.maxError)) · bound on the median \(percent(t.bound)): "
                         + (ok ? "within" : "BEYOND"))
            lines.append("")
        }
        let beyond = tables.filter { $0.medianError > $0.bound }.count
        lines.append(beyond == 0 ? "every table within its bound" : "\(beyond) table(s) beyond their bound")
        return lines.joined(separator: "\n")
    }
}
