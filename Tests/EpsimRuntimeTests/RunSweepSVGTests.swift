import Foundation
import XCTest
import EpsimCore
@testable import EpsimRuntime

/// `run --svg` and `sweep --svg`: demand against capacity per expert (grouped past 64
/// experts), per-rank phase bars measured and modeled, the traffic heatmap with its one
/// colour bar and totals; the sweep's scatter with its Pareto front numbered; and every
/// picture rendered to PNG.
final class RunSweepSVGTests: XCTestCase {
    private func config(experts: Int = 8, factor: Double? = 1.0) -> SimConfig {
        var c = SimConfig()
        c.model.hidden = 32
        c.model.ffn = 32
        c.model.experts = experts
        c.model.topK = 2
        c.model.layers = 2
        c.tokens = .perRank([64, 48, 64, 80])
        c.workload = .zipf(exponent: 1.2)
        c.capacity.factor = factor
        c.overflow.policy = .drop
        c.steps = 2
        c.warmupSteps = 1
        c.seed = 7
        return c
    }

    private func result(_ c: SimConfig, modeled: Bool = false) throws -> RunResult {
        var settings = Simulation.Settings()
        if modeled { settings.system = smallSystem() }
        return try emulatedResult(c, ranks: 4, settings: settings)
    }

    private func assertRenders(_ text: String, name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let size = try XCTUnwrap(parseSVG(text).size, file: file, line: line)
        for png in try renderSVG(text, name: name) {
            XCTAssertEqual(png.status, 0, "\(png.renderer): \(png.stderr)", file: file, line: line)
            XCTAssertEqual(png.stderr, "", png.renderer, file: file, line: line)
            XCTAssertEqual(png.width, size.width, png.renderer, file: file, line: line)
            XCTAssertEqual(png.height, size.height, png.renderer, file: file, line: line)
            XCTAssertGreaterThan(png.bytes, 15_000, "\(png.renderer): a picture, not a blank page", file: file, line: line)
        }
    }

    func testRunPictureHoldsDemandCapacityPhasesAndTraffic() throws {
        let r = try result(config())
        let chart = RunChart(r)
        let bars = chart.expertBars
        let counted = Double(r.config.steps * r.config.model.layers)
        XCTAssertEqual(bars.groupSize, 1)
        XCTAssertEqual(bars.demand.count, 8)
        XCTAssertEqual(bars.demand, r.metrics.demand.values(.demand).map { Double($0) / counted })
        XCTAssertEqual(bars.accepted, r.metrics.demand.values(.accepted).map { Double($0) / counted })
        // Every assignment is some expert's demand.
        XCTAssertEqual(bars.demand.reduce(0, +) * counted, Double(r.total.assignments), accuracy: 1e-6)
        // Local scope: the world's capacity per expert is the sum of every source rank's C.
        let capacity = try XCTUnwrap(bars.capacity)
        XCTAssertEqual(capacity, Double(r.metrics.capacity.reduce(0, +)))
        XCTAssertEqual(bars.overCapacity, bars.demand.filter { $0 > capacity }.count)
        XCTAssertGreaterThan(bars.overCapacity, 0, "zipf traffic at cf 1.0 overflows the hot experts")
        XCTAssertGreaterThan(r.dropRate, 0)

        let svg = parseSVG(chart.svg())
        XCTAssertNil(svg.parseError)
        XCTAssertEqual(svg.kind("demand").count, 8)
        XCTAssertEqual(svg.kind("accepted").count, 8)
        XCTAssertEqual(svg.kind("capacity").count, 1)
        XCTAssertEqual(svg.kind("cell").count, 4 * 4)
        XCTAssertEqual(svg.groups("colorbar"), 1)
        XCTAssertEqual(svg.kind("totals").map(\.text),
                       ["total \(SVGCanvas.bytes(r.traffic.totalBytes)) · between ranks \(SVGCanvas.bytes(r.traffic.offRankBytes))"])
        XCTAssertEqual(svg.groups("rank-bar"), 4, "measured only: no --system")
        XCTAssertEqual(svg.kind("critical-path").count, 0)
        XCTAssertTrue(svg.texts.contains { $0.hasPrefix("\(bars.overCapacity) of 8 experts above capacity") })
        try assertRenders(chart.svg(), name: "run")
    }

    func testModeledBarsBesideTheMeasuredOnes() throws {
        var r = try result(config(), modeled: true)
        let modeled = try XCTUnwrap(r.modeled)
        var svg = parseSVG(RunChart(r).svg())
        XCTAssertNil(svg.parseError)
        XCTAssertEqual(svg.groups("rank-bar"), 2 * 4)
        XCTAssertEqual(svg.kind("critical-path").count, 1)
        // Rank 2's modeled expert segment is its own modeled time.
        let title = "rank 2: expert " + SVGCanvas.ms(modeled.perRankMs(.expert)[2])
        XCTAssertTrue(svg.elements.contains { $0.name == "title" && $0.text == title }, title)
        XCTAssertTrue(svg.texts.contains("critical path " + SVGCanvas.ms(modeled.stepMs)))
        try assertRenders(RunChart(r).svg(), name: "run-modeled")

        r.modeledOnly = true
        svg = parseSVG(RunChart(r).svg())
        XCTAssertEqual(svg.groups("rank-bar"), 4, "--modeled-only: the modeled bars only")
        XCTAssertFalse(svg.texts.contains { $0.contains("measured on this host") })
    }

    func testManyExpertsAreSortedAndGrouped() throws {
        let r = try result(config(experts: 160))
        let bars = RunChart(r).expertBars
        let counted = Double(r.config.steps * r.config.model.layers)
        XCTAssertEqual(bars.groupSize, 3)
        XCTAssertEqual(bars.demand.count, 54)
        XCTAssertEqual(bars.demand, bars.demand.sorted(by: >), "sorted by demand, hottest first")
        // Group means keep the total: every full group has 3 experts, the last 1.
        let total = bars.demand.enumerated().reduce(0.0) { $0 + $1.element * Double($1.offset == 53 ? 1 : 3) }
        XCTAssertEqual(total * counted, Double(r.total.assignments), accuracy: 1e-6)
        let svg = parseSVG(RunChart(r).svg())
        XCTAssertNil(svg.parseError)
        XCTAssertEqual(svg.kind("demand").count, 54)
        XCTAssertTrue(svg.texts.contains { $0.hasPrefix("160 experts sorted by demand, 3 per bar") })
        try assertRenders(RunChart(r).svg(), name: "run-160-experts")
    }

    func testDroplessHasNoCapacityLine() throws {
        let r = try result(config(factor: nil))
        XCTAssertNil(RunChart(r).expertBars.capacity)
        let svg = parseSVG(RunChart(r).svg())
        XCTAssertEqual(svg.kind("capacity").count, 0)
        XCTAssertTrue(svg.texts.contains("dropless: no capacity"))
    }

    /// Points made from one run's summary with chosen step times and drop rates.
    private func rows(_ points: [(step: Double, drop: Double)]) throws -> [Sweep.Row] {
        let base = LayoutSummary(name: "base", result: try result(config()))
        let summaries = points.enumerated().map { i, p -> LayoutSummary in
            var s = base
            s.name = "p\(i)"
            s.medianMs[.step] = p.step
            s.dropRate = p.drop
            return s
        }
        return Sweep.rows(overrides: points.indices.map { ["capacity.factor=\($0)", "overflow.policy=<drop&>"] },
                          summaries: summaries)
    }

    func testSweepPictureDrawsAndNumbersTheFront() throws {
        // Front: (5 ms, 20%), (8, 5%), (12, 0); dominated: (9, 10%), (13, 1%).
        let rows = try rows([(8, 0.05), (9, 0.10), (5, 0.20), (12, 0), (13, 0.01)])
        XCTAssertEqual(rows.map(\.pareto), [true, false, true, true, false])
        let chart = SweepChart(rows: rows)
        XCTAssertEqual(chart.front, [3, 0, 2], "numbered by drop rate")
        let text = chart.svg()
        let svg = parseSVG(text)
        XCTAssertNil(svg.parseError)
        XCTAssertEqual(svg.kind("front-point").count, 3)
        XCTAssertEqual(svg.kind("point").count, 2)
        XCTAssertEqual(svg.kind("front-label").map(\.text), ["1", "2", "3"])
        XCTAssertEqual(svg.kind("front-key").map(\.text), [3, 0, 2].map { "capacity.factor=\($0) overflow.policy=<drop&>" })
        // The front line runs through the front points, left to right and down.
        let line = try XCTUnwrap(svg.kind("front-line").first?.attributes["points"])
        let xy = line.split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(xy.count, 3)
        XCTAssertEqual(xy.map { $0[0] }, xy.map { $0[0] }.sorted())
        XCTAssertEqual(xy.map { $0[1] }, xy.map { $0[1] }.sorted(), "lower step times are higher y")
        let centres = svg.kind("front-point").map { [Double($0.attributes["cx"]!)!, Double($0.attributes["cy"]!)!] }
        XCTAssertEqual(centres, xy)
        XCTAssertTrue(svg.texts.contains { $0.hasPrefix("step ms, measured median") })
        try assertRenders(text, name: "sweep")

        let empty = parseSVG(SweepChart(rows: []).svg())
        XCTAssertNil(empty.parseError)
        XCTAssertTrue(empty.texts.contains("no points"))
    }
}
