import EpsimCore

/// The text table `epsim validate` prints: which rank holds which experts, and which
/// of those are extra copies of a replicated expert.
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
        return lines.joined(separator: "\n")
    }
}
