import EpsimCore

/// The text table `epsim validate` prints: which rank holds which experts, and which
/// of those are extra copies of a replicated expert; for an EPLB placement, its policy,
/// slots and the load balance it reaches.
public enum PlacementTable {
    public static func render(_ layout: ExpertLayout) -> String {
        var lines = ["placement: \(layout.experts) experts on \(layout.ranks) ranks"
                     + (layout.isReplicated ? ", replicated" : "")]
        let width = String(layout.ranks - 1).count
        for r in 0..<layout.ranks {
            let held = layout.local[r].map { e -> String in
                let copies = layout.copies[e]
                return copies.count > 1 ? "\(e)(copy \(copies.firstIndex { $0.rank == r }! + 1)/\(copies.count))" : "\(e)"
            }
            let label = String(repeating: " ", count: width - String(r).count) + String(r)
            lines.append("  rank \(label): " + (held.isEmpty ? "(no experts)" : held.joined(separator: " ")))
        }
        if let eplb = layout.eplb { lines += eplbLines(eplb, layout) }
        return lines.joined(separator: "\n")
    }

    /// What EPLB decided: policy, slots, replica counts, slots merged on one rank, and
    /// max / mean of the per-rank load (load / replicas over a rank's slots) against the
    /// contiguous layout's without replicas.
    static func eplbLines(_ r: EPLB.Result, _ layout: ExpertLayout) -> [String] {
        let P = layout.ranks, slots = r.physicalToLogical.count, per = slots / P
        var lines = ["eplb: \(r.hierarchical ? "hierarchical" : "global") policy, \(slots) slots (\(per) per rank, "
                     + "\(slots - layout.experts) redundant)"]
        let replicated = (0..<layout.experts).filter { r.logicalCount[$0] > 1 }.map { "\($0)×\(r.logicalCount[$0])" }
        lines.append("  replicas: " + (replicated.isEmpty ? "none" : replicated.joined(separator: " ")))
        for rank in 0..<P {
            let held = r.physicalToLogical[(rank * per)..<((rank + 1) * per)]
            for e in layout.local[rank] where held.filter({ $0 == e }).count > 1 {
                lines.append("  rank \(rank) has \(held.filter { $0 == e }.count) slots of expert \(e): one copy here")
            }
        }
        func ratio(_ loads: [Double]) -> String {
            let imbalance = LoadStatistics.imbalance(loads)
            return imbalance > 0 ? String(format3: imbalance) : "-"
        }
        let contiguous = ExpertLayout.contiguousLists(experts: layout.experts, ranks: P).map { $0.reduce(0) { $0 + r.load[$1] } }
        lines.append("  rank load max/mean: \(ratio(r.rankLoads(gpus: P))) (contiguous, no replicas: \(ratio(contiguous)))")
        return lines
    }
}
