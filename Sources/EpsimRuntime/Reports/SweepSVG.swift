// `epsim sweep --svg`: a scatter of every point's step time against its drop rate, the
// Pareto front drawn through its points, each front point numbered and listed with its
// overrides. Pure text rendering (no I/O, no Foundation).

/// The picture of a sweep, drawn by `svg()`.
public struct SweepChart {
    public var rows: [Sweep.Row]
    public var title: String

    public init(rows: [Sweep.Row], title: String = "epsim sweep") {
        self.rows = rows
        self.title = title
    }

    /// The front's rows in the order they are numbered and joined: by drop rate, then
    /// step time.
    var front: [Int] {
        rows.indices.filter { rows[$0].pareto }.sorted {
            (rows[$0].summary.dropRate, rows[$0].summary.stepMs) < (rows[$1].summary.dropRate, rows[$1].summary.stepMs)
        }
    }

    /// The SVG document text.
    public func svg() -> String {
        guard !rows.isEmpty else { return SVGCanvas.placeholder(title: title, message: "no points") }
        var c = SVGCanvas()
        c.text(16, 24, title, size: 15, bold: true)
        let modeled = rows.first?.summary.modeledOn
        let timeLabel = modeled.map { "step ms, modeled on \($0) (critical path)" } ?? "step ms, measured median"
        c.text(16, 42, "\(rows.count) points · \(front.count) on the Pareto front of (step time, drop rate): "
               + "no other point is faster without dropping more", size: 11, fill: "#555555")
        let left = 70.0, top = 80.0, plotWidth = 460.0, plotHeight = 300.0
        let steps = rows.map { SVGCanvas.clean($0.summary.stepMs) }
        let drops = rows.map { SVGCanvas.clean($0.summary.dropRate) * 100 }
        let yv = c.valueAxis(left: left, top: top, width: plotWidth, height: plotHeight,
                             max: (steps.max() ?? 0) * 1.1, label: timeLabel, format: SVGCanvas.tick)
        // The drop-rate axis along the bottom, ticks as the value axis chooses them.
        let (step, intervals) = SVGCanvas.ticks(max((drops.max() ?? 0) * 1.1, 1))
        let xMax = step * Double(intervals)
        let xv = { (d: Double) in left + plotWidth * min(d, xMax) / xMax }
        c.group([("class", "x-axis")])
        for i in 0...intervals {
            let v = step * Double(i)
            c.line(xv(v), top, xv(v), top + plotHeight, stroke: i == 0 ? "#333333" : "#ececec")
            c.text(xv(v), top + plotHeight + 14, SVGCanvas.tick(v), size: 10, anchor: .middle, fill: "#444444")
        }
        c.text(left + plotWidth / 2, top + plotHeight + 32, "drop rate, % of assignments", size: 11, anchor: .middle,
               fill: "#444444")
        c.end()
        let front = front
        c.polyline(front.map { (x: xv(drops[$0]), y: yv(steps[$0])) }, stroke: Palette.front, width: 2, cls: "front-line")
        for i in rows.indices where !rows[i].pareto {
            c.circle(xv(drops[i]), yv(steps[i]), 4, fill: Palette.point, stroke: "#666666", cls: "point",
                     title: "\(rows[i].summary.name): \(SVGCanvas.ms(steps[i])), drop \(percent(rows[i].summary.dropRate))")
        }
        var listY = top + 6
        let listX = left + plotWidth + 30
        c.text(listX, top - 8, "Pareto front (fastest last)", size: 11, bold: true)
        var width = listX + 260
        for (n, i) in front.enumerated() {
            let label = String(n + 1)
            c.circle(xv(drops[i]), yv(steps[i]), 6, fill: Palette.front, stroke: "#333333", cls: "front-point",
                     title: "\(rows[i].summary.name): \(SVGCanvas.ms(steps[i])), drop \(percent(rows[i].summary.dropRate))")
            c.text(xv(drops[i]) + 8, yv(steps[i]) - 6, label, size: 11, bold: true, cls: "front-label")
            // The key: the number, the point's own values, its time and drop rate.
            let name = rows[i].overrides.isEmpty ? rows[i].summary.name : rows[i].overrides.joined(separator: " ")
            c.text(listX, listY + 10, label, size: 11, bold: true)
            c.text(listX + 20, listY + 10, name, size: 11, cls: "front-key")
            c.text(listX + 20, listY + 24, "\(SVGCanvas.ms(steps[i])) · drop \(percent(rows[i].summary.dropRate))",
                   size: 10, fill: "#555555")
            width = max(width, listX + 30 + SVGCanvas.textWidth(name, size: 11))
            listY += 34
        }
        c.legend(x: listX, y: max(listY + 10, top + plotHeight - 30),
                 [(name: "on the front", color: Palette.front), (name: "dominated", color: Palette.point)])
        return c.document(width: width, height: max(top + plotHeight + 50, listY + 50))
    }
}
