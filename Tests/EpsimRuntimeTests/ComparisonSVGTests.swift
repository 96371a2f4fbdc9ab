import Foundation
import XCTest
import EpsimCore
@testable import EpsimRuntime

/// `compare --svg`: the phase bars add up (no segment made by adding medians), every
/// traffic matrix is on one colour scale with one colour bar and its totals, drop and
/// per-rank load bars are there, result files give the same picture, and the picture
/// renders to PNG.
final class ComparisonSVGTests: XCTestCase {
    private typealias Layout = ComparisonChart.Layout

    private func config(policy: OverflowPolicy) -> SimConfig {
        var c = SimConfig()
        c.model.hidden = 32
        c.model.ffn = 32
        c.model.experts = 8
        c.tokens = .uniform(64)
        c.workload = .zipf(exponent: 1.2)
        c.capacity.factor = 1.0
        c.overflow.policy = policy
        c.steps = 2
        c.warmupSteps = 1
        c.seed = 5
        return c
    }

    private func summaries(modeled: Bool = false) throws -> [LayoutSummary] {
        var settings = Simulation.Settings()
        if modeled { settings.system = smallSystem() }
        return try [OverflowPolicy.drop, .reroute].map { policy in
            LayoutSummary(name: "\(policy)", result: try emulatedResult(config(policy: policy), ranks: 4, settings: settings))
        }
    }

    private func matrix(_ p: Int, scale: Int64 = 1) -> [[Int64]] {
        (0..<p).map { i in (0..<p).map { j in Int64((i + 1) * 1000 + j * 37) * scale } }
    }

    func testMeasuredBarsAddUpToTheMeanStep() throws {
        let layouts = try summaries()
        let chart = ComparisonChart(summaries: layouts, title: "t")
        for (summary, layout) in zip(layouts, chart.layouts) {
            XCTAssertTrue(layout.additive)
            let segments = layout.segments
            XCTAssertFalse(segments.contains { $0.name == "other" })
            // The phases are each phase's mean over ranks of the per-rank means, and the
            // grey rest is the mean step less them: together exactly the mean step.
            let inside = Phase.inside.filter { $0 != .wait }.reduce(0.0) { $0 + summary.meanMs[$1]! }
            let step = try XCTUnwrap(summary.meanMs[.step])
            XCTAssertGreaterThan(step, 0)
            XCTAssertEqual(segments.reduce(0) { $0 + $1.ms }, step, accuracy: 1e-9 * step)
            let outside = segments.first { $0.name == "outside phases" }?.ms ?? 0
            XCTAssertEqual(outside, max(0, step - inside), accuracy: 1e-9 * step)
            XCTAssertEqual(segments.first { $0.name == "expert" }?.ms ?? -1, summary.meanMs[.expert]!, accuracy: 1e-12)
            XCTAssertNotEqual(summary.meanMs[.step], summary.medianMs[.step], "the bars are the means, not the medians")
        }
        let svg = parseSVG(chart.svg())
        XCTAssertNil(svg.parseError)
        XCTAssertEqual(svg.kind("step-mark").count, 0)
        XCTAssertTrue(svg.texts.contains { $0.hasPrefix("Measured on this host") })
    }

    func testModeledBarsAreCriticalTimesWithTheCriticalPathMarked() throws {
        let layouts = try summaries(modeled: true)
        let chart = ComparisonChart(summaries: layouts, title: "t")
        for (summary, layout) in zip(layouts, chart.layouts) {
            XCTAssertEqual(summary.modeledOn, "test")
            XCTAssertFalse(layout.additive)
            XCTAssertFalse(layout.segments.contains { $0.name == "outside phases" || $0.name == "other" })
            XCTAssertEqual(layout.stepMilliseconds, summary.stepMs)
            for (name, ms) in layout.phases {
                let phase = try XCTUnwrap(Phase.allCases.first { $0.description == name })
                XCTAssertEqual(ms, summary.medianMs[phase]!, "\(name): the text table's modeled time")
            }
        }
        let svg = parseSVG(chart.svg())
        XCTAssertNil(svg.parseError)
        XCTAssertEqual(svg.kind("step-mark").count, layouts.count)
        XCTAssertTrue(svg.texts.contains { $0.hasPrefix("Times modeled on test") })
    }

    func testOneColourScaleOneColourBarAndTotals() throws {
        let layouts = try summaries()
        let svg = parseSVG(ComparisonChart(summaries: layouts, title: "t").svg())
        XCTAssertNil(svg.parseError)
        XCTAssertEqual(svg.groups("colorbar"), 1)
        XCTAssertEqual(svg.groups("heatmap"), 2)
        XCTAssertEqual(svg.kind("cell").count, 2 * 4 * 4)
        let totals = svg.kind("totals").map(\.text)
        XCTAssertEqual(totals, layouts.map {
            "total \(SVGCanvas.bytes($0.totalBytes)) · between ranks \(SVGCanvas.bytes($0.offRankBytes))"
        })
        XCTAssertGreaterThan(layouts[0].totalBytes, 0)
        // Drop and reroute bars per layout, one per-rank load bar per rank.
        XCTAssertEqual(svg.kind("rate drop").count, 2)
        XCTAssertEqual(svg.kind("rate reroute").count, 2)
        XCTAssertEqual(svg.kind("load").count, 2 * 4)
        XCTAssertEqual(layouts[0].rankLoad.count, 4)

        // The same colour for the same bytes in either map: a map whose peak is half the
        // other's has no cell at the top of the scale.
        let chart = ComparisonChart(title: "scale", layouts: [
            Layout(name: "a", phases: [], stepMilliseconds: 1, additive: true, traffic: matrix(3)),
            Layout(name: "b", phases: [], stepMilliseconds: 1, additive: true, traffic: matrix(3, scale: 2)),
        ])
        let cells = parseSVG(chart.svg()).kind("cell")
        XCTAssertEqual(cells.count, 18)
        let fills = cells.map { $0.attributes["fill"] ?? "" }
        XCTAssertEqual(fills.filter { $0 == Palette.viridis(1) }.count, 1, "only b's largest cell is at the top")
        XCTAssertEqual(fills[8], Palette.viridis(0.5), "a's largest cell is half the shared scale")
        XCTAssertEqual(fills[17], Palette.viridis(1))
    }

    func testResultFilesGiveTheSamePicture() throws {
        let r = try emulatedResult(config(policy: .drop), ranks: 4)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("epsim-svg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("r.json").path
        try AtomicFile.write(r.json().serialized() + "\n", to: path)
        let live = LayoutSummary(name: "x", result: r), read = try LayoutSummary(resultFile: path, name: "x")
        XCTAssertEqual(read.rankLoad, live.rankLoad)
        XCTAssertEqual(Set(read.meanMs.keys), Set(Phase.allCases))
        for phase in Phase.allCases {
            XCTAssertEqual(read.meanMs[phase]!, live.meanMs[phase]!, accuracy: 1e-9, "\(phase)")
        }
        XCTAssertEqual(ComparisonChart(summaries: [read], title: "t").layouts[0].segments.map(\.name),
                       ComparisonChart(summaries: [live], title: "t").layouts[0].segments.map(\.name))

        // A file without the per-rank means (written before they existed): the medians,
        // with the median step marked, not a remainder made by subtracting them.
        var doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var phases = try XCTUnwrap(doc["phases"] as? [String: Any])
        for phase in Phase.allCases {
            var p = try XCTUnwrap(phases[phase.description] as? [String: Any])
            p["per_rank_mean_ms"] = nil
            phases[phase.description] = p
        }
        doc["phases"] = phases
        let old = dir.appendingPathComponent("old.json").path
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: old))
        let summary = try LayoutSummary(resultFile: old, name: "old")
        XCTAssertTrue(summary.meanMs.isEmpty)
        let chart = ComparisonChart(summaries: [summary], title: "t")
        XCTAssertFalse(chart.layouts[0].additive)
        XCTAssertFalse(chart.layouts[0].segments.contains { $0.name == "outside phases" })
        XCTAssertEqual(chart.layouts[0].stepMilliseconds, summary.medianMs[.step])
        XCTAssertEqual(parseSVG(chart.svg()).kind("step-mark").count, 1)
    }

    func testNamesAreEscapedAndOddValuesStayFinite() {
        let chart = ComparisonChart(title: "cmp <1> & 'x'", layouts: [
            Layout(name: "a<b&c", phases: [(name: "route", milliseconds: .nan), (name: "expert", milliseconds: -3)],
                   stepMilliseconds: .infinity, additive: true, dropRate: .nan, rankLoad: [1, .infinity],
                   traffic: [[1, 2, 3], [4], [-1, 0, 1 << 40]]),
            Layout(name: "\"quoted\"", phases: [], stepMilliseconds: 0, additive: false, traffic: []),
        ])
        let text = chart.svg()
        let svg = parseSVG(text)
        XCTAssertNil(svg.parseError)
        XCTAssertTrue(text.contains("a&lt;b&amp;c"))
        XCTAssertTrue(text.contains("&quot;quoted&quot;"))
        XCTAssertTrue(svg.texts.contains("cmp <1> & 'x'"))
        XCTAssertFalse(text.contains("nan") || text.contains("inf"))
        XCTAssertEqual(svg.kind("cell").count, 9)
        XCTAssertEqual(svg.groups("colorbar"), 1)

        let empty = parseSVG(ComparisonChart(title: "nothing", layouts: []).svg())
        XCTAssertNil(empty.parseError)
        XCTAssertTrue(empty.texts.contains("no data"))
    }

    func testFormattingAndPalette() {
        XCTAssertEqual(SVGCanvas.num(1.5), "1.5")
        XCTAssertEqual(SVGCanvas.num(-0.001), "0")
        XCTAssertEqual(SVGCanvas.num(0.30000000000000004, 6), "0.3")
        XCTAssertEqual(SVGCanvas.bytes(1_258_291), "1.2 MiB")
        XCTAssertEqual(SVGCanvas.bytes(812), "812 B")
        XCTAssertEqual(SVGCanvas.percentShort(0.0025), "0.25%")
        XCTAssertEqual(SVGCanvas.percentShort(0.123), "12.3%")
        for top in [0.0, 0.003, 1, 7.3, 28, 99.9, 100, 12345] {
            let (step, intervals) = SVGCanvas.ticks(top)
            XCTAssertTrue((3...5).contains(intervals), "\(top): \(intervals)")
            XCTAssertGreaterThanOrEqual(step * Double(intervals), top)
        }
        XCTAssertEqual(Palette.viridis(0), "#440154")
        XCTAssertEqual(Palette.viridis(0.5), "#21918c")
        XCTAssertEqual(Palette.viridis(1), "#fde725")
        XCTAssertEqual(Palette.viridis(-1), "#440154")
        XCTAssertEqual(Palette.viridis(.nan), "#440154")
        XCTAssertEqual(Palette.viridis(7), "#fde725")
        XCTAssertEqual(Palette.phase("route"), Palette.phase("route"))
        XCTAssertNotEqual(Palette.phase("route"), Palette.phase("expert"))
    }

    /// The render check fails on a broken picture: a renderer that cannot read it says so.
    func testRenderCheckSeesABrokenPicture() throws {
        let broken = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"50\">"
            + "<rect width=\"10\" height=\"10\" fill=\"red\"><text>unclosed</svg>\n"
        XCTAssertNotNil(parseSVG(broken).parseError)
        for png in try renderSVG(broken, name: "broken") {
            XCTAssertTrue(png.status != 0 || !png.stderr.isEmpty, "\(png.renderer) read a broken SVG silently")
        }
    }

    func testRendersToPNG() throws {
        let text = ComparisonChart(summaries: try summaries(), title: "epsim compare").svg()
        let svg = parseSVG(text)
        let size = try XCTUnwrap(svg.size)
        for png in try renderSVG(text, name: "compare") {
            XCTAssertEqual(png.status, 0, "\(png.renderer): \(png.stderr)")
            XCTAssertEqual(png.stderr, "", png.renderer)
            XCTAssertEqual(png.width, size.width, png.renderer)
            XCTAssertEqual(png.height, size.height, png.renderer)
            XCTAssertGreaterThan(png.bytes, 20_000, "\(png.renderer): a picture, not a blank page")
        }
    }
}

/// Heatmaps of large worlds: blocks of ranks summed into at most 64 × 64 cells.
final class HeatmapBinningTests: XCTestCase {
    func testLargeMatricesAreSummedIntoBlocksAndSmallOnesKept() {
        var rng = SeededRandom.stream(seed: 4, 1)
        let p = 200
        let m = (0..<p).map { _ in (0..<p).map { _ in Int64(rng.next() % 1000) } }
        let (cells, g) = SVGCanvas.binned(m)
        XCTAssertEqual(g, 4)
        XCTAssertEqual(cells.count, 50)
        XCTAssertTrue(cells.allSatisfy { $0.count == 50 })
        XCTAssertEqual(cells.joined().reduce(0, +), m.joined().reduce(0, +), "every byte is in some cell")
        XCTAssertEqual(cells[1][2], (4..<8).reduce(0) { s, i in s + (8..<12).reduce(0) { $0 + m[i][$1] } })
        let small = (0..<64).map { i in (0..<64).map { Int64(i * 64 + $0) } }
        let kept = SVGCanvas.binned(small)
        XCTAssertEqual(kept.ranksPerCell, 1)
        XCTAssertEqual(kept.cells, small)
        // Drawn: 50² cells, axes in ranks.
        var c = SVGCanvas()
        c.heatmap(x: 0, y: 0, size: 200, matrix: cells, scaleMax: cells.joined().max() ?? 1, ranksPerCell: g)
        let svg = c.document(width: 300, height: 300)
        XCTAssertEqual(svg.components(separatedBy: "data-kind=\"cell\"").count - 1, 2500)
        XCTAssertTrue(svg.contains("ranks 4–7 → ranks 8–11"))
        XCTAssertTrue(svg.contains("4 ranks per cell (bytes summed)"))
    }
}
