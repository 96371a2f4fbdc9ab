// The colours of the report pictures (`SVGCanvas`): the heatmaps' sequential palette,
// one fixed colour per phase, and the series colours of the bar charts.

/// The colours of the pictures.
enum Palette {
    /// Viridis (matplotlib's perceptually uniform sequential map, readable in grey and by
    /// most colour-blind readers): `t` in [0, 1] (clamped; not finite: 0) linearly
    /// interpolated in RGB between nine stops sampled from it at t = 0, 1/8, ..., 1:
    /// #440154 (dark purple, 0) → #3b528b → #21918c (teal, 0.5) → #5ec962 → #fde725
    /// (yellow, 1).
    static func viridis(_ t: Double) -> String {
        let stops: [(Int, Int, Int)] = [
            (0x44, 0x01, 0x54), (0x47, 0x2d, 0x7b), (0x3b, 0x52, 0x8b), (0x2c, 0x72, 0x8e), (0x21, 0x91, 0x8c),
            (0x28, 0xae, 0x80), (0x5e, 0xc9, 0x62), (0xad, 0xdc, 0x30), (0xfd, 0xe7, 0x25),
        ]
        let u = min(1, max(0, t.isFinite ? t : 0)) * Double(stops.count - 1)
        let i = min(stops.count - 2, Int(u)), f = u - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        func mix(_ x: Int, _ y: Int) -> Int { Int((Double(x) + (Double(y) - Double(x)) * f).rounded()) }
        return hex(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    static func hex(_ r: Int, _ g: Int, _ b: Int) -> String {
        "#" + [r, g, b].map { v in
            let h = String(min(255, max(0, v)), radix: 16)
            return h.count == 1 ? "0" + h : h
        }.joined()
    }

    /// The fixed fill of a phase (the same in every picture); unknown names hash into a
    /// spare palette. "outside phases" is grey: step time in no phase.
    static func phase(_ name: String) -> String {
        switch name {
        case "route": return "#4e79a7"
        case "permute": return "#f28e2b"
        case "dispatch": return "#e15759"
        case "expert": return "#76b7b2"
        case "combine": return "#59a14f"
        case "unpermute": return "#edc948"
        case "shared": return "#b07aa1"
        case "wait": return "#ff9da7"
        case "outside phases": return "#bdbdbd"
        default:
            let spare = ["#9c755f", "#86bcb6", "#d37295", "#8cd17d", "#499894", "#f1ce63", "#a0cbe8", "#79706e"]
            var hash: UInt32 = 2_166_136_261
            for b in name.utf8 { hash = (hash ^ UInt32(b)) &* 16_777_619 }
            return spare[Int(hash % UInt32(spare.count))]
        }
    }

    /// Series colours of the bar charts.
    static let demand = "#a6cee3", accepted = "#1f78b4", capacity = "#d62728"
    static let drop = "#e15759", reroute = "#f28e2b", load = "#4e79a7", front = "#f28e2b", point = "#9e9e9e"
}
