// `epsim compare --svg`: one standalone SVG comparing several MoE layouts: step time by
// phase, drop and reroute rates, rows computed per rank, and every layout's traffic
// matrix on one shared colour scale. Pure text rendering (no I/O, no Foundation).

/// A comparison of several layouts, drawn as one standalone SVG document by `svg()`.
public struct ComparisonChart: Sendable {
    /// What one layout contributes: a phase bar, a drop and a reroute bar, a per-rank
    /// load panel and a traffic heatmap.
    public struct Layout: Sendable {
        /// Shown under its bars and above its panels, e.g. "mixtral.yaml".
        public var name: String
        /// Bar segments (ms), stacked bottom-up in this order; the colour follows the name.
        public var phases: [(name: String, milliseconds: Double)]
        /// The step time (ms) the bar is measured against.
        public var stepMilliseconds: Double
        /// true: `phases` are parts of `stepMilliseconds` (measured means), and the rest
        /// of the step is drawn as the grey "outside phases" segment (time inside the
        /// step but in no phase: the loop's own overhead). false: `phases` need not add
        /// up to the step (modeled per-phase critical times, or medians): the step is a
        /// black mark on the bar, and nothing is drawn for a difference.
        public var additive: Bool
        /// Shares in [0, 1] of all assignments.
        public var dropRate: Double
        public var rerouteRate: Double
        /// [P] rows each rank's experts computed (`routing.rank_load`); empty: unknown.
        public var rankLoad: [Double]
        /// P×P bytes matrix `[src][dst]` (dispatch + combine); empty means no heatmap.
        public var traffic: [[Int64]]
        /// Every byte of `traffic`, and those between different ranks.
        public var totalBytes: Int64
        public var offRankBytes: Int64

        public init(name: String, phases: [(name: String, milliseconds: Double)], stepMilliseconds: Double,
                    additive: Bool, dropRate: Double = 0, rerouteRate: Double = 0, rankLoad: [Double] = [],
                    traffic: [[Int64]], totalBytes: Int64? = nil, offRankBytes: Int64? = nil) {
            self.name = name
            self.phases = phases
            self.stepMilliseconds = stepMilliseconds
            self.additive = additive
            self.dropRate = dropRate
            self.rerouteRate = rerouteRate
            self.rankLoad = rankLoad
            self.traffic = traffic
            let all = traffic.joined().reduce(Int64(0)) { $0 + max(0, $1) }
            let diagonal = traffic.indices.reduce(Int64(0)) { $0 + ($1 < traffic[$1].count ? max(0, traffic[$1][$1]) : 0) }
            self.totalBytes = totalBytes ?? all
            self.offRankBytes = offRankBytes ?? (all - diagonal)
        }

        /// The bar's segments: the phases (non-finite or negative times as 0) and, when
        /// additive, what the step has beyond them as "outside phases".
        var segments: [(name: String, ms: Double)] {
            var s = phases.map { (name: $0.name, ms: SVGCanvas.clean($0.milliseconds)) }
            let rest = SVGCanvas.clean(stepMilliseconds) - s.reduce(0) { $0 + $1.ms }
            if additive && rest > 0 { s.append((name: "outside phases", ms: rest)) }
            return s
        }
    }

    /// The document heading.
    public var title: String
    /// What the times are, under the heading (e.g. "measured on this host: ...").
    public var note: String
    /// One entry per layout, in display order.
    public var layouts: [Layout]

    public init(title: String, note: String = "", layouts: [Layout]) {
        self.title = title
        self.note = note
        self.layouts = layouts
    }

    // Geometry (pixels).
    private static let left = 64.0, panelGap = 24.0, mapSize = 180.0

    /// The SVG document text.
    public func svg() -> String {
        guard !layouts.isEmpty else { return SVGCanvas.placeholder(title: title, message: "no data") }
        var c = SVGCanvas()
        c.text(16, 24, title, size: 15, bold: true)
        var y = 30.0
        for line in Self.wrap(note, width: 110) {
            y += 15
            c.text(16, y, line, size: 11, fill: "#555555")
        }
        let longest = layouts.map(\.name.count).max() ?? 0
        let slot = min(160, max(84, Double(longest) * 6.6 + 14))
        let plotWidth = Double(layouts.count) * slot
        var width = Self.left + plotWidth + 190

        // 1. Step time by phase.
        y += 30
        c.text(16, y, "Step time by phase", size: 13, bold: true)
        y += 30
        let bars = layouts.map(\.segments)
        let tops = zip(layouts, bars).map { l, b in max(b.reduce(0) { $0 + $1.ms }, SVGCanvas.clean(l.stepMilliseconds)) }
        let plotHeight = 220.0
        let yMs = c.valueAxis(left: Self.left, top: y, width: plotWidth, height: plotHeight,
                              max: (tops.max() ?? 0) * 1.08, label: "ms", format: SVGCanvas.tick)
        let barWidth = min(56, slot * 0.5)
        for (i, l) in layouts.enumerated() {
            let x = Self.left + slot * (Double(i) + 0.5)
            c.group([("class", "bar")])
            let base = c.stackedBar(bars[i], x: x - barWidth / 2, width: barWidth, value: yMs, label: l.name)
            let step = SVGCanvas.clean(l.stepMilliseconds)
            if l.additive {
                c.text(x, yMs(max(base, step)) - 5, SVGCanvas.ms(max(base, step)), size: 10, anchor: .middle)
            } else {
                c.line(x - barWidth / 2 - 6, yMs(step), x + barWidth / 2 + 6, yMs(step), stroke: "#000000", width: 2.5,
                       cls: "step-mark")
                c.text(x, min(yMs(base), yMs(step)) - 5, "step " + SVGCanvas.ms(step), size: 10, anchor: .middle)
            }
            c.end()
            c.text(x, y + plotHeight + 15, SVGCanvas.truncate(l.name, Int((slot - 6) / 6.6)), size: 11, anchor: .middle)
        }
        var entries = SVGCanvas.phaseLegend(bars)
        if layouts.contains(where: { !$0.additive }) { entries.append((name: "step (black mark)", color: "#000000")) }
        c.legend(x: Self.left + plotWidth + 24, y: y, entries)
        y += max(plotHeight, Double(entries.count) * 16) + 48

        // 2. Drop and reroute rates.
        c.text(16, y, "Drop and reroute rate (share of all assignments)", size: 13, bold: true)
        y += 30
        let rateHeight = 110.0
        let rateMax = layouts.map { max(SVGCanvas.clean($0.dropRate), SVGCanvas.clean($0.rerouteRate)) }.max() ?? 0
        let yRate = c.valueAxis(left: Self.left, top: y, width: plotWidth, height: rateHeight,
                                max: max(rateMax * 100 * 1.15, 1), label: "%", format: SVGCanvas.tick)
        let rateBar = min(30, slot * 0.3)
        for (i, l) in layouts.enumerated() {
            let x = Self.left + slot * (Double(i) + 0.5)
            for (k, (kind, rate, color)) in [("drop", l.dropRate, Palette.drop), ("reroute", l.rerouteRate, Palette.reroute)].enumerated() {
                let bx = x + (k == 0 ? -rateBar - 2 : 2)
                let top = yRate(SVGCanvas.clean(rate) * 100)
                c.rect(bx, top, rateBar, yRate(0) - top, fill: color, cls: "rate \(kind)",
                       title: "\(l.name): \(kind) \(percent(SVGCanvas.clean(rate)))")
                c.text(bx + rateBar / 2, top - 4, SVGCanvas.percentShort(rate), size: 9, anchor: .middle)
            }
            c.text(x, y + rateHeight + 15, SVGCanvas.truncate(l.name, Int((slot - 6) / 6.6)), size: 11, anchor: .middle)
        }
        c.legend(x: Self.left + plotWidth + 24, y: y, [(name: "drop", color: Palette.drop), (name: "reroute", color: Palette.reroute)])
        y += rateHeight + 50

        // 3. Rows computed per rank, one panel per layout on one scale.
        c.text(16, y, "Rows computed per rank (one scale; dashed: the mean)", size: 13, bold: true)
        y += 14
        let loadMax = layouts.flatMap(\.rankLoad).map(SVGCanvas.clean).max() ?? 0
        let ranks = layouts.map(\.rankLoad.count).max() ?? 0
        let loadPanel = max(230, min(420, Double(ranks) * 10 + 90))
        let perRow = max(1, min(3, Int((max(width, 1000) - 16) / (loadPanel + Self.panelGap))))
        width = max(width, 16 + Double(min(perRow, layouts.count)) * (loadPanel + Self.panelGap))
        for (k, l) in layouts.enumerated() {
            let px = 16 + Double(k % perRow) * (loadPanel + Self.panelGap)
            let py = y + Double(k / perRow) * 190
            Self.loadPanel(&c, l, x: px, y: py, width: loadPanel, max: loadMax)
        }
        y += Double((layouts.count + perRow - 1) / perRow) * 190 + 20

        // 4. Traffic heatmaps, one colour scale and one colour bar.
        let maps = layouts.filter { !$0.traffic.isEmpty }
        if !maps.isEmpty {
            c.text(16, y, "Traffic between ranks, dispatch + combine (one colour scale; outlined: self-traffic)",
                   size: 13, bold: true)
            y += 16
            // Large worlds in blocks of ranks (`SVGCanvas.binned`), one scale over the cells drawn.
            let binned = maps.map { SVGCanvas.binned($0.traffic) }
            let peak = binned.flatMap { $0.cells.joined() }.max() ?? 0
            let panel = Self.mapSize + 70
            let mapsPerRow = 3
            for (k, l) in maps.enumerated() {
                let px = 16 + Double(k % mapsPerRow) * panel, py = y + Double(k / mapsPerRow) * (Self.mapSize + 90)
                c.group([("class", "heatmap")])
                c.text(px, py + 16, SVGCanvas.truncate(l.name, 36), size: 12, bold: true)
                c.heatmap(x: px + 28, y: py + 26, size: Self.mapSize, matrix: binned[k].cells, scaleMax: peak,
                          ranksPerCell: binned[k].ranksPerCell)
                c.text(px + 28, py + 26 + Self.mapSize + (binned[k].ranksPerCell > 1 ? 38 : 26),
                       "total \(SVGCanvas.bytes(l.totalBytes)) · between ranks \(SVGCanvas.bytes(l.offRankBytes))",
                       size: 10, cls: "totals")
                c.end()
            }
            let columns = Double(min(mapsPerRow, maps.count))
            let label = "bytes (src row → dst column)"
            c.colorBar(x: 16 + columns * panel + 10, y: y + 26, height: Self.mapSize, scaleMax: peak, label: label)
            width = max(width, 16 + columns * panel + 10 + SVGCanvas.textWidth(label, size: 10) + 10)
            y += Double((maps.count + mapsPerRow - 1) / mapsPerRow) * (Self.mapSize + 90)
        }
        return c.document(width: width, height: y + 10)
    }

    /// One layout's rows-per-rank bars at (x, y), on the shared maximum `max`.
    private static func loadPanel(_ c: inout SVGCanvas, _ l: Layout, x: Double, y: Double, width: Double, max top: Double) {
        c.group([("class", "load-panel")])
        let load = l.rankLoad.map(SVGCanvas.clean)
        let mean = load.isEmpty ? 0 : load.reduce(0, +) / Double(load.count)
        let imbalance = LoadStatistics.imbalance(load)
        let figure = load.isEmpty ? "" : " · max/mean " + String(format2: imbalance)
        let room = Int((width - SVGCanvas.textWidth(figure, size: 11)) / (11 * SVGCanvas.charWidth))
        c.text(x, y + 16, SVGCanvas.truncate(l.name, room) + figure, size: 11, bold: true)
        guard !load.isEmpty else {
            c.text(x, y + 50, "no per-rank load in this result", size: 11, fill: "#666666")
            c.end()
            return
        }
        let left = x + 48, plotWidth = width - 58, plotTop = y + 40, plotHeight = 110.0
        let yv = c.valueAxis(left: left, top: plotTop, width: plotWidth, height: plotHeight, max: top * 1.05,
                             label: "rows", format: SVGCanvas.tick)
        let slot = plotWidth / Double(load.count)
        let every = Swift.max(1, (load.count + 7) / 8)
        for (r, v) in load.enumerated() {
            let bx = left + Double(r) * slot
            c.rect(bx + slot * 0.12, yv(v), slot * 0.76, yv(0) - yv(v), fill: Palette.load, cls: "load",
                   title: "rank \(r): \(shortNumber(v)) rows")
            if r % every == 0 { c.text(bx + slot / 2, plotTop + plotHeight + 12, String(r), size: 9, anchor: .middle, fill: "#444444") }
        }
        c.line(left, yv(mean), left + plotWidth, yv(mean), stroke: "#222222", width: 1.2, dashed: true, cls: "mean")
        c.text(left + plotWidth / 2, plotTop + plotHeight + 25, "rank", size: 9, anchor: .middle, fill: "#444444")
        c.end()
    }

    /// Splits `text` into lines of at most about `width` characters at spaces.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty && current.count + 1 + word.count > width {
                lines.append(current)
                current = ""
            }
            current += (current.isEmpty ? "" : " ") + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }
}

extension ComparisonChart {
    /// The chart of `compare`'s layouts. Measured times: per phase the mean over ranks of
    /// each rank's mean (`LayoutSummary.meanMs`), which add up to the mean step less the
    /// time outside every phase (drawn grey); modeled times (`--system`): each phase on
    /// its slowest rank (`critical_ms`, as the text table) with the step's critical path
    /// marked; a result file without per-rank means: the medians, the median step marked.
    public init(summaries layouts: [LayoutSummary], title: String) {
        let modeled = layouts.first?.modeledOn
        let note: String
        if let modeled {
            note = "Times modeled on \(modeled): each phase on its slowest rank (what the critical path waits for); "
                + "the black mark is the step's critical path: at most their sum, less where different ranks are slowest "
                + "or chunks overlap."
        } else if layouts.allSatisfy({ !$0.meanMs.isEmpty }) {
            note = "Measured on this host: each phase's mean over ranks of the per-rank mean, so the segments add up to "
                + "the mean step; grey: step time outside every phase (the loop's own overhead)."
        } else {
            note = "Measured medians (some result file has no per-rank means): medians of phases need not add up to "
                + "the median step, marked black."
        }
        self.init(title: title, note: note, layouts: layouts.map { l in
            let means = l.modeledOn == nil && !l.meanMs.isEmpty
            let times = means ? l.meanMs : l.medianMs
            let phases = Phase.inside.filter { $0 != .wait || (times[.wait] ?? 0) > 0 }
            return Layout(name: l.name, phases: phases.map { (name: $0.description, milliseconds: times[$0] ?? 0) },
                          stepMilliseconds: times[.step] ?? 0, additive: means,
                          dropRate: l.dropRate, rerouteRate: l.rerouteRate, rankLoad: l.rankLoad,
                          traffic: l.traffic, totalBytes: l.totalBytes, offRankBytes: l.offRankBytes)
        })
    }
}
