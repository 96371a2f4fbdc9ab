import EpsimCore

// `epsim run --svg`: one standalone SVG of a finished run: per-expert demand against
// capacity, per-rank phase times (measured, and modeled with --system) and the traffic
// matrix with its colour bar and totals. Pure text rendering (no I/O, no Foundation).

/// The picture of one run, drawn by `svg()`.
public struct RunChart {
    public let result: RunResult

    public init(_ result: RunResult) { self.result = result }

    /// More experts than this are sorted by demand and drawn in groups (one bar each).
    static let maxBars = 64

    /// Per expert (logical id order), or per group of experts sorted by demand when there
    /// are more than `maxBars`: the mean per counted step and layer, over all source
    /// ranks, of the assignments that chose it (`demand`) and that were kept there
    /// (`accepted`, before reroutes in). `groupSize` is 1 when not grouped.
    struct ExpertBars {
        var demand: [Double]
        var accepted: [Double]
        /// The first expert of each bar: its id, or (grouped) its place in demand order.
        var labels: [Int]
        var groupSize: Int
        /// The world's capacity per expert, mean per layer (nil: dropless): with
        /// `capacity.scope: local` the sum over source ranks of their C, with `global` the C.
        var capacity: Double?
        /// How many experts (not bars) had more demand than `capacity`.
        var overCapacity: Int
    }

    var expertBars: ExpertBars {
        let m = result.metrics, count = Double(max(1, m.steps * m.layers))
        let demand = m.demand.values(.demand).map { Double($0) / count }
        let accepted = m.demand.values(.accepted).map { Double($0) / count }
        var capacity: Double? = nil
        let perLayer = m.capacityPerLayer
        if !perLayer.isEmpty, perLayer.allSatisfy({ $0.allSatisfy { $0 >= 0 } }), m.layers > 0 {
            let world = (0..<m.layers).map { l in
                result.config.capacity.scope == .global ? Double(perLayer[0][l]) : perLayer.reduce(0.0) { $0 + Double($1[l]) }
            }
            capacity = world.reduce(0, +) / Double(world.count)
        }
        let over = capacity.map { c in demand.filter { $0 > c }.count } ?? 0
        guard demand.count > Self.maxBars else {
            return ExpertBars(demand: demand, accepted: accepted, labels: Array(demand.indices), groupSize: 1,
                              capacity: capacity, overCapacity: over)
        }
        let order = demand.indices.sorted { demand[$0] > demand[$1] || (demand[$0] == demand[$1] && $0 < $1) }
        let size = (demand.count + Self.maxBars - 1) / Self.maxBars
        var bars = ExpertBars(demand: [], accepted: [], labels: [], groupSize: size, capacity: capacity, overCapacity: over)
        for start in stride(from: 0, to: order.count, by: size) {
            let group = order[start..<min(order.count, start + size)]
            bars.demand.append(group.reduce(0) { $0 + demand[$1] } / Double(group.count))
            bars.accepted.append(group.reduce(0) { $0 + accepted[$1] } / Double(group.count))
            bars.labels.append(start)
        }
        return bars
    }

    /// The SVG document text.
    public func svg() -> String {
        let r = result, m = r.config.model
        var c = SVGCanvas()
        let left = 64.0
        c.text(16, 24, "epsim run · \(r.config.sourcePath ?? "config") · \(r.ranks) ranks · \(m.experts) experts top-\(m.topK)",
               size: 15, bold: true)
        c.text(16, 42, r.routingLayoutText + " · \(r.config.steps) counted steps × \(m.layers) layer(s)", size: 11, fill: "#555555")
        var y = 72.0
        var width = 720.0

        // 1. Demand and capacity per expert.
        let bars = expertBars
        c.text(16, y, "Demand and capacity per expert (mean per step and layer, all source ranks)", size: 13, bold: true)
        y += 16
        let axisLabel = bars.groupSize > 1
            ? "\(m.experts) experts sorted by demand, \(bars.groupSize) per bar (their mean); numbers: place in that order"
            : "expert id"
        let caption = bars.capacity.map {
            "\(bars.overCapacity) of \(m.experts) experts above capacity \(SVGCanvas.tick($0)) (the world's C per expert"
                + (r.config.capacity.scope == .local ? ": the sum of every source rank's C)" : ")")
        } ?? "dropless: no capacity"
        c.text(16, y + 4, caption, size: 11, fill: "#555555")
        y += 36
        let slot = max(6, min(48, 640 / Double(max(1, bars.demand.count))))
        let plotWidth = slot * Double(bars.demand.count)
        let plotHeight = 200.0
        let top = max(bars.demand.max() ?? 0, bars.capacity ?? 0) * 1.1
        let yv = c.valueAxis(left: left, top: y, width: plotWidth, height: plotHeight, max: top,
                             label: "assignments", format: SVGCanvas.tick)
        let every = max(1, Int((28 / slot).rounded(.up)))
        c.group([("class", "experts")])
        for i in bars.demand.indices {
            let x = left + Double(i) * slot
            let name = bars.groupSize > 1 ? "experts \(bars.labels[i] + 1)–\(min(m.experts, bars.labels[i] + bars.groupSize)) by demand"
                : "expert \(bars.labels[i])"
            c.rect(x + slot * 0.08, yv(bars.demand[i]), slot * 0.84, yv(0) - yv(bars.demand[i]), fill: Palette.demand,
                   cls: "demand", title: "\(name): demand \(SVGCanvas.tick(bars.demand[i]))")
            c.rect(x + slot * 0.25, yv(bars.accepted[i]), slot * 0.5, yv(0) - yv(bars.accepted[i]), fill: Palette.accepted,
                   cls: "accepted", title: "\(name): accepted \(SVGCanvas.tick(bars.accepted[i]))")
            if i % every == 0 {
                c.text(x + slot / 2, y + plotHeight + 12, String(bars.labels[i] + (bars.groupSize > 1 ? 1 : 0)),
                       size: 9, anchor: .middle, fill: "#444444")
            }
        }
        c.end()
        c.text(left + plotWidth / 2, y + plotHeight + 26, axisLabel, size: 10, anchor: .middle, fill: "#444444")
        var entries = [(name: "demand (chose the expert)", color: Palette.demand),
                       (name: "accepted (kept at its choice)", color: Palette.accepted)]
        if let cap = bars.capacity {
            c.line(left, yv(cap), left + plotWidth, yv(cap), stroke: Palette.capacity, width: 2, cls: "capacity")
            entries.append((name: "capacity", color: Palette.capacity))
        }
        c.legend(x: left + plotWidth + 20, y: y, entries)
        width = max(width, left + plotWidth + 230)
        y += plotHeight + 48

        // 2. Per-rank phase times.
        let phases = Phase.inside.filter { $0 != .wait || r.environment.sync }
        if !r.modeledOnly {
            let measured: [[(name: String, ms: Double)]] = (0..<r.ranks).map { rank in
                var s = phases.map { (name: $0.description, ms: SVGCanvas.clean(r.phases[$0].perRank[rank] * 1e3)) }
                let rest = SVGCanvas.clean(r.phases[.step].perRank[rank] * 1e3) - s.reduce(0) { $0 + $1.ms }
                if rest > 0 { s.append((name: "outside phases", ms: rest)) }
                return s
            }
            c.text(16, y, "Phase times per rank, measured on this host (mean over counted steps; grey: outside every phase)",
                   size: 13, bold: true)
            y += 30
            let w = rankBars(&c, measured, x: left, y: y, mark: nil)
            width = max(width, left + w + 230)
            c.legend(x: left + w + 20, y: y, SVGCanvas.phaseLegend(measured))
            y += 200 + 48
        }
        if let modeled = r.modeled {
            let perRank = ModeledPhase.allCases.map { (name: $0.rawValue, ms: modeled.perRankMs($0)) }
            let bars = (0..<r.ranks).map { rank in perRank.map { (name: $0.name, ms: SVGCanvas.clean($0.ms[rank])) } }
            c.text(16, y, "Phase times per rank, \(modeled.label) (mean over counted steps; dashed: the step's critical path)",
                   size: 13, bold: true)
            y += 30
            let w = rankBars(&c, bars, x: left, y: y, mark: modeled.stepMs)
            width = max(width, left + w + 230)
            c.legend(x: left + w + 20, y: y, SVGCanvas.phaseLegend(bars) + [(name: "critical path", color: "#000000")])
            y += 200 + 48
        }

        // 3. Traffic.
        if r.routingOnly {
            c.text(16, y, "No traffic: --routing-only runs no dispatch or combine.", size: 12, fill: "#555555")
            y += 20
        } else {
            c.text(16, y, "Traffic between ranks, dispatch + combine over counted steps (outlined: self-traffic)",
                   size: 13, bold: true)
            let size = 240.0
            let binned = SVGCanvas.binned(r.traffic.bytes)
            let peak = binned.cells.joined().max() ?? 0
            c.group([("class", "heatmap")])
            c.heatmap(x: left, y: y + 24, size: size, matrix: binned.cells, scaleMax: peak, ranksPerCell: binned.ranksPerCell)
            c.text(left, y + 24 + size + (binned.ranksPerCell > 1 ? 40 : 28),
                   "total \(SVGCanvas.bytes(r.traffic.totalBytes)) · between ranks \(SVGCanvas.bytes(r.traffic.offRankBytes))",
                   size: 11, cls: "totals")
            c.end()
            c.colorBar(x: left + size + 24, y: y + 24, height: size, scaleMax: peak, label: "bytes (src row → dst column)")
            y += 24 + size + 44
        }
        return c.document(width: width, height: y)
    }

    /// Stacked bars, one per rank, at (x, y), 200 px tall, with a dashed line at `mark`
    /// (ms) across them; returns the plot's width.
    private func rankBars(_ c: inout SVGCanvas, _ bars: [[(name: String, ms: Double)]], x: Double, y: Double,
                          mark: Double?) -> Double {
        let slot = max(6, min(64, 640 / Double(max(1, bars.count))))
        let width = slot * Double(bars.count), height = 200.0
        let tops = bars.map { $0.reduce(0) { $0 + $1.ms } }
        let yv = c.valueAxis(left: x, top: y, width: width, height: height,
                             max: max(tops.max() ?? 0, mark ?? 0) * 1.08, label: "ms", format: SVGCanvas.tick)
        let every = max(1, Int((24 / slot).rounded(.up)))
        for (rank, segments) in bars.enumerated() {
            let bx = x + Double(rank) * slot
            c.group([("class", "rank-bar")])
            _ = c.stackedBar(segments, x: bx + slot * 0.12, width: slot * 0.76, value: yv, label: "rank \(rank)")
            c.end()
            if rank % every == 0 {
                c.text(bx + slot / 2, y + height + 12, String(rank), size: 9, anchor: .middle, fill: "#444444")
            }
        }
        c.text(x + width / 2, y + height + 26, "rank", size: 9, anchor: .middle, fill: "#444444")
        if let mark {
            c.line(x, yv(mark), x + width, yv(mark), stroke: "#000000", width: 1.5, dashed: true, cls: "critical-path")
            c.text(x + width, yv(mark) - 4, "critical path " + SVGCanvas.ms(mark), size: 10, anchor: .end)
        }
        return width
    }
}
