// A standalone SVG comparison of several MoE layouts: a stacked bar chart of the
// per-phase median times, and a heatmap of each layout's rank-to-rank traffic.
// Pure text rendering (no I/O, no Foundation).

/// A comparison of several layouts, drawn as one standalone SVG document by `svg()`.
public struct ComparisonChart: Sendable {
    /// One layout (one bar and at most one heatmap).
    public struct Layout: Sendable {
        /// Shown under the bar and above the heatmap, e.g. "mixtral.yaml" or "cf=1.25 reroute".
        public var name: String
        /// Bar segments, stacked bottom-up in this order; the color follows the phase name.
        public var phases: [(name: String, milliseconds: Double)]
        /// The median step time; whatever exceeds the sum of `phases` is drawn as "other".
        public var stepMilliseconds: Double
        /// P×P bytes matrix `[src][dst]`; empty means no heatmap for this layout.
        public var traffic: [[Int64]]

        public init(name: String, phases: [(name: String, milliseconds: Double)],
                    stepMilliseconds: Double, traffic: [[Int64]]) {
            self.name = name
            self.phases = phases
            self.stepMilliseconds = stepMilliseconds
            self.traffic = traffic
        }
    }

    /// The document heading.
    public var title: String
    /// One entry per layout, in display order.
    public var layouts: [Layout]

    public init(title: String, layouts: [Layout]) {
        self.title = title
        self.layouts = layouts
    }

    // Geometry (pixels).
    private static let plotLeft = 70.0, plotTop = 50.0, plotHeight = 240.0, legendWidth = 150.0
    private static let panelWidth = 290.0, panelHeight = 290.0, matrixSize = 200.0
    private static let font = "font-family=\"sans-serif\""

    /// The SVG document text.
    public func svg() -> String {
        let n = layouts.count
        guard n > 0 else {
            return Self.document(width: 400, height: 120, body:
                Self.text(20, 36, title, "font-size=\"16\" font-weight=\"bold\"")
                + Self.text(20, 76, "no data", "font-size=\"14\" fill=\"#666\""))
        }
        // Bar chart geometry: the slot width adapts to the longest name within limits.
        let longest = layouts.map { $0.name.count }.max() ?? 0
        let slot = min(150, max(70, Double(longest) * 6.5 + 16))
        let plotWidth = Double(n) * slot
        let legendX = Self.plotLeft + plotWidth + 30
        let bars = layouts.map { l in
            l.phases.map { (name: $0.name, ms: Self.clean($0.milliseconds)) }
        }
        let others = zip(layouts, bars).map { l, b in
            max(0, Self.clean(l.stepMilliseconds) - b.reduce(0) { $0 + $1.ms })
        }
        let top = zip(bars, others).map { b, o in b.reduce(o) { $0 + $1.ms } }.max() ?? 0
        let (step, intervals) = Self.ticks(top)
        let axisMax = step * Double(intervals)
        let y = { (ms: Double) in Self.plotTop + Self.plotHeight * (1 - ms / axisMax) }

        // Legend entries: phase names in order of first appearance, then "other".
        var legend: [String] = []
        for b in bars { for p in b where !legend.contains(p.name) { legend.append(p.name) } }
        if others.contains(where: { $0 > 0 }) { legend.append("other") }

        var body = Self.text(20, 28, title, "font-size=\"16\" font-weight=\"bold\"")
        // Y axis, grid lines and tick labels.
        body += "<g class=\"axis\" \(Self.font) font-size=\"11\">"
        for i in 0...intervals {
            let v = step * Double(i), ty = y(v)
            body += "<line x1=\"\(Self.num(Self.plotLeft))\" y1=\"\(Self.num(ty))\" x2=\"\(Self.num(Self.plotLeft + plotWidth))\" y2=\"\(Self.num(ty))\" stroke=\"#e0e0e0\"/>"
            body += Self.text(Self.plotLeft - 6, ty + 4, Self.num(v, 6), "text-anchor=\"end\"")
        }
        body += "<line x1=\"\(Self.num(Self.plotLeft))\" y1=\"\(Self.num(Self.plotTop))\" x2=\"\(Self.num(Self.plotLeft))\" y2=\"\(Self.num(Self.plotTop + Self.plotHeight))\" stroke=\"#333\"/>"
        body += "<line x1=\"\(Self.num(Self.plotLeft))\" y1=\"\(Self.num(Self.plotTop + Self.plotHeight))\" x2=\"\(Self.num(Self.plotLeft + plotWidth))\" y2=\"\(Self.num(Self.plotTop + Self.plotHeight))\" stroke=\"#333\"/>"
        body += Self.text(18, Self.plotTop + Self.plotHeight / 2, "ms",
                          "text-anchor=\"middle\" transform=\"rotate(-90 18 \(Self.num(Self.plotTop + Self.plotHeight / 2)))\"")
        body += "</g>"

        // Bars: one stacked column per layout, the step time above, the name below.
        let barWidth = min(60, slot * 0.6)
        for (i, l) in layouts.enumerated() {
            let x = Self.plotLeft + slot * (Double(i) + 0.5)
            var base = 0.0
            body += "<g class=\"bar\">"
            var segments = bars[i].filter { $0.ms > 0 }.map { (name: $0.name, ms: $0.ms, cls: "segment") }
            if others[i] > 0 { segments.append((name: "other", ms: others[i], cls: "segment other")) }
            for s in segments {
                let y0 = y(base + s.ms), y1 = y(base)
                body += "<rect class=\"\(s.cls)\" x=\"\(Self.num(x - barWidth / 2))\" y=\"\(Self.num(y0))\" width=\"\(Self.num(barWidth))\" height=\"\(Self.num(max(0, y1 - y0)))\" fill=\"\(Self.color(s.name))\"><title>\(Self.escape(s.name)): \(Self.ms(s.ms))</title></rect>"
                base += s.ms
            }
            let stepMs = max(base, Self.clean(l.stepMilliseconds))
            body += Self.text(x, y(base) - 5, Self.ms(stepMs), "text-anchor=\"middle\" font-size=\"10\"")
            body += "<text x=\"\(Self.num(x))\" y=\"\(Self.num(Self.plotTop + Self.plotHeight + 16))\" text-anchor=\"middle\" font-size=\"11\" \(Self.font)><title>\(Self.escape(l.name))</title>\(Self.escape(Self.truncate(l.name, Int((slot - 6) / 6.5))))</text>"
            body += "</g>"
        }

        // Legend, in stacking order from the top so it reads like the bars.
        body += "<g class=\"legend\" \(Self.font) font-size=\"11\">"
        for (i, name) in legend.reversed().enumerated() {
            let ly = Self.plotTop + Double(i) * 18
            body += "<rect x=\"\(Self.num(legendX))\" y=\"\(Self.num(ly))\" width=\"12\" height=\"12\" fill=\"\(Self.color(name))\"/>"
            body += Self.text(legendX + 18, ly + 10, Self.truncate(name, 18), "")
        }
        body += "</g>"

        // Heatmaps, a grid of panels below the chart.
        let maps = layouts.filter { !$0.traffic.isEmpty }
        let chartBottom = max(Self.plotTop + Self.plotHeight + 40, Self.plotTop + Double(legend.count) * 18 + 20)
        let width = max(legendX + Self.legendWidth, 20 + Double(min(maps.count, 3)) * Self.panelWidth, 400)
        let perRow = max(1, Int((width - 20) / Self.panelWidth))
        for (k, l) in maps.enumerated() {
            body += Self.heatmap(l, x: 20 + Double(k % perRow) * Self.panelWidth,
                                 y: chartBottom + Double(k / perRow) * Self.panelHeight)
        }
        let rows = (maps.count + perRow - 1) / perRow
        return Self.document(width: width, height: chartBottom + Double(rows) * Self.panelHeight + 10, body: body)
    }

    /// One traffic heatmap panel with its top-left corner at (x, y): rows are sources,
    /// columns destinations; cells shade linearly from light (0) to dark (the matrix max).
    private static func heatmap(_ l: Layout, x: Double, y: Double) -> String {
        let rows = l.traffic.count, cols = l.traffic.map(\.count).max() ?? 0
        let peak = l.traffic.joined().reduce(Int64(0)) { max($0, $1) }
        let cell = matrixSize / Double(max(rows, cols, 1))
        let mx = x + 50, my = y + 40
        var s = "<g class=\"heatmap\" \(font) font-size=\"10\">"
        s += text(x, y + 14, truncate(l.name, 44), "font-size=\"12\" font-weight=\"bold\"")
        s += text(x, y + 29, "max " + bytes(peak), "fill=\"#555\"")
        s += "<g shape-rendering=\"crispEdges\">"
        for (i, row) in l.traffic.enumerated() {
            for j in 0..<cols {
                let v = j < row.count ? max(0, row[j]) : 0
                let t = peak > 0 ? Double(v) / Double(peak) : 0
                s += "<rect class=\"cell\" x=\"\(num(mx + Double(j) * cell))\" y=\"\(num(my + Double(i) * cell))\" width=\"\(num(cell))\" height=\"\(num(cell))\" fill=\"\(shade(t))\"/>"
            }
        }
        s += "</g>"
        // Self-traffic (the diagonal), outlined.
        let stroke = num(min(1.5, max(0.5, cell * 0.2)))
        for i in 0..<min(rows, cols) {
            let inset = cell * 0.1
            s += "<rect class=\"diag\" x=\"\(num(mx + Double(i) * cell + inset))\" y=\"\(num(my + Double(i) * cell + inset))\" width=\"\(num(cell - 2 * inset))\" height=\"\(num(cell - 2 * inset))\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"\(stroke)\"/>"
        }
        s += "<rect x=\"\(num(mx))\" y=\"\(num(my))\" width=\"\(num(Double(cols) * cell))\" height=\"\(num(Double(rows) * cell))\" fill=\"none\" stroke=\"#999\"/>"
        // Rank labels, thinned so at most ~8 appear per axis.
        let every = max(1, (max(rows, cols) + 7) / 8)
        for i in stride(from: 0, to: rows, by: every) {
            s += text(mx - 4, my + (Double(i) + 0.5) * cell + 3, String(i), "text-anchor=\"end\"")
        }
        for j in stride(from: 0, to: cols, by: every) {
            s += text(mx + (Double(j) + 0.5) * cell, my + Double(rows) * cell + 12, String(j), "text-anchor=\"middle\"")
        }
        let cy = my + matrixSize / 2
        s += text(x + 14, cy, "src rank", "text-anchor=\"middle\" transform=\"rotate(-90 \(num(x + 14)) \(num(cy)))\"")
        s += text(mx + matrixSize / 2, my + matrixSize + 28, "dst rank", "text-anchor=\"middle\"")
        return s + "</g>"
    }

    // MARK: - Helpers

    /// Wraps `body` in an `<svg>` root with size and viewBox.
    private static func document(width: Double, height: Double, body: String) -> String {
        let w = num(width.rounded(.up)), h = num(height.rounded(.up))
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" \(font)>\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body + "\n</svg>\n"
    }

    /// A `<text>` element with escaped content.
    private static func text(_ x: Double, _ y: Double, _ content: String, _ attributes: String) -> String {
        "<text x=\"\(num(x))\" y=\"\(num(y))\" \(attributes)>\(escape(content))</text>"
    }

    /// Escapes the five XML special characters.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Shortens to at most `limit` characters, ending in "…" when cut.
    private static func truncate(_ s: String, _ limit: Int) -> String {
        s.count <= max(limit, 2) ? s : String(s.prefix(max(limit, 2) - 1)) + "…"
    }

    /// Non-finite and negative values become 0.
    private static func clean(_ v: Double) -> Double { v.isFinite && v > 0 ? v : 0 }

    /// A round tick step (1, 2, 2.5 or 5 × 10^k) and interval count (3–5) covering `top`.
    static func ticks(_ top: Double) -> (step: Double, intervals: Int) {
        guard top.isFinite, top > 0 else { return (0.25, 4) }
        let raw = top / 5
        var magnitude = 1.0
        while magnitude > raw { magnitude /= 10 }
        while magnitude * 10 <= raw { magnitude *= 10 }
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
        return (step, max(1, Int((top / step - 1e-9).rounded(.up))))
    }

    /// `v` with `decimals` places, trailing zeros dropped (no Foundation).
    static func num(_ v: Double, _ decimals: Int = 2) -> String {
        guard v.isFinite else { return "0" }
        var scale: Int64 = 1
        for _ in 0..<decimals { scale *= 10 }
        guard abs(v) * Double(scale) < 9e18 else { return String(Int64(v.rounded())) }
        let units = Int64((abs(v) * Double(scale)).rounded())
        var fraction = decimals > 0 ? String(units % scale) : ""
        fraction = String(repeating: "0", count: max(0, decimals - fraction.count)) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let sign = v < 0 && units != 0 ? "-" : ""
        return sign + String(units / scale) + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// Milliseconds with about three significant digits: "0.123 ms", "12.3 ms", "456 ms".
    private static func ms(_ v: Double) -> String {
        num(v, v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3) + " ms"
    }

    /// Bytes in binary units: "0 B", "812 B", "1.2 MiB".
    static func bytes(_ n: Int64) -> String {
        var value = Double(n), unit = 0
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        while abs(value) >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return num(value, unit == 0 || value >= 100 ? 0 : 1) + " " + units[unit]
    }

    /// The fixed fill for a phase name; unknown names hash into a spare palette.
    static func color(_ phase: String) -> String {
        switch phase {
        case "route": return "#4e79a7"
        case "permute": return "#f28e2b"
        case "dispatch": return "#e15759"
        case "expert": return "#76b7b2"
        case "combine": return "#59a14f"
        case "unpermute": return "#edc948"
        case "shared": return "#b07aa1"
        case "wait": return "#ff9da7"
        case "other": return "#bdbdbd"
        default:
            let spare = ["#9c755f", "#86bcb6", "#d37295", "#8cd17d", "#499894", "#f1ce63", "#a0cbe8", "#79706e"]
            var hash: UInt32 = 2_166_136_261
            for b in phase.utf8 { hash = (hash ^ UInt32(b)) &* 16_777_619 }
            return spare[Int(hash % UInt32(spare.count))]
        }
    }

    /// Linear blend from light (#f7fbff, t = 0) to dark blue (#08306b, t = 1).
    private static func shade(_ t: Double) -> String {
        let t = min(1, max(0, t.isFinite ? t : 0))
        let (a, b) = ((0xf7, 0xfb, 0xff), (0x08, 0x30, 0x6b))
        let hex = { (x: Int, y: Int) -> String in
            let v = Int((Double(x) + (Double(y) - Double(x)) * t).rounded())
            let h = String(v, radix: 16)
            return h.count == 1 ? "0" + h : h
        }
        return "#" + hex(a.0, b.0) + hex(a.1, b.1) + hex(a.2, b.2)
    }
}
