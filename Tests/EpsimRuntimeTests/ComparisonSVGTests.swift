import Foundation
import XCTest
@testable import EpsimRuntime

final class ComparisonSVGTests: XCTestCase {
    private typealias Layout = ComparisonChart.Layout

    private func phases(_ ms: [Double]) -> [(name: String, milliseconds: Double)] {
        zip(["route", "permute", "dispatch", "expert", "combine", "unpermute", "shared"], ms)
            .map { (name: $0, milliseconds: $1) }
    }

    private func matrix(_ p: Int) -> [[Int64]] {
        (0..<p).map { i in (0..<p).map { j in Int64((i + 1) * 1000 + j * 37) } }
    }

    /// Walks the tags and checks they nest; returns a failure description or nil.
    private func tagProblem(_ svg: String) -> String? {
        var stack: [String] = []
        var rest = Substring(svg)
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { return "unterminated tag" }
            let tag = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            if tag.hasPrefix("?") || tag.hasPrefix("!") { continue }
            if tag.hasSuffix("/") { continue }
            if tag.hasPrefix("/") {
                let name = String(tag.dropFirst())
                guard stack.popLast() == name else { return "unexpected </\(name)>" }
            } else {
                stack.append(String(tag.prefix { $0 != " " && $0 != "\n" }))
            }
        }
        return stack.isEmpty ? nil : "unclosed \(stack)"
    }

    private func count(_ needle: String, in s: String) -> Int {
        s.components(separatedBy: needle).count - 1
    }

    private func assertWellFormed(_ svg: String, file: StaticString = #filePath, line: UInt = #line) {
        let body = svg.hasPrefix("<?xml") ? String(svg.drop { $0 != "\n" }.dropFirst()) : svg
        XCTAssertTrue(body.hasPrefix("<svg"), file: file, line: line)
        XCTAssertTrue(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""), file: file, line: line)
        XCTAssertTrue(svg.contains("viewBox=\"0 0 "), file: file, line: line)
        XCTAssertNil(tagProblem(svg), file: file, line: line)
    }

    func testDocumentIsWellFormedAndEscapesNames() {
        let chart = ComparisonChart(title: "cmp <1> & 'x'", layouts: [
            Layout(name: "a<b&c", phases: phases([1, 2, 3, 4, 5, 6, 7]), stepMilliseconds: 30, traffic: matrix(3)),
            Layout(name: "\"quoted\"", phases: phases([2, 1, 3, 0, 5, 6, 0]), stepMilliseconds: 10, traffic: []),
        ])
        let svg = chart.svg()
        assertWellFormed(svg)
        XCTAssertTrue(svg.contains("a&lt;b&amp;c"))
        XCTAssertFalse(svg.contains("a<b&c"))
        XCTAssertTrue(svg.contains("&quot;quoted&quot;"))
        XCTAssertTrue(svg.contains("cmp &lt;1&gt; &amp; &apos;x&apos;"))
        XCTAssertTrue(svg.contains("src rank") && svg.contains("dst rank"))
    }

    func testSegmentsCountNonzeroPhasesAndOther() {
        // Sums 28 (= step, no other) and 17 (< step 20: one "other" segment).
        let chart = ComparisonChart(title: "t", layouts: [
            Layout(name: "a", phases: phases([1, 2, 3, 4, 5, 6, 7]), stepMilliseconds: 28, traffic: []),
            Layout(name: "b", phases: phases([2, 1, 3, 0, 5, 6, 0]), stepMilliseconds: 20, traffic: []),
        ])
        let svg = chart.svg()
        XCTAssertEqual(count("class=\"segment\"", in: svg), 7 + 5)
        XCTAssertEqual(count("class=\"segment other\"", in: svg), 1)
        XCTAssertEqual(count("class=\"cell\"", in: svg), 0)
    }

    func testSamePhaseSameColor() {
        let chart = ComparisonChart(title: "t", layouts: [
            Layout(name: "a", phases: [(name: "route", milliseconds: 1), (name: "expert", milliseconds: 2)],
                   stepMilliseconds: 3, traffic: []),
            Layout(name: "b", phases: [(name: "expert", milliseconds: 5), (name: "route", milliseconds: 1)],
                   stepMilliseconds: 6, traffic: []),
        ])
        let svg = chart.svg()
        let fills = svg.components(separatedBy: "<rect class=\"segment\"").dropFirst().map { rect -> (String, String) in
            let fill = rect.components(separatedBy: "fill=\"")[1].prefix { $0 != "\"" }
            let name = rect.components(separatedBy: "<title>")[1].prefix { $0 != ":" }
            return (String(name), String(fill))
        }
        XCTAssertEqual(fills.count, 4)
        let route = fills.filter { $0.0 == "route" }.map(\.1), expert = fills.filter { $0.0 == "expert" }.map(\.1)
        XCTAssertEqual(route.count, 2)
        XCTAssertEqual(Set(route).count, 1)
        XCTAssertEqual(Set(expert).count, 1)
        XCTAssertNotEqual(route[0], expert[0])
    }

    func testHeatmapCells() {
        let chart = ComparisonChart(title: "t", layouts: [
            Layout(name: "three", phases: phases([1]), stepMilliseconds: 1, traffic: matrix(3)),
            Layout(name: "none", phases: phases([1]), stepMilliseconds: 1, traffic: []),
        ])
        let svg = chart.svg()
        XCTAssertEqual(count("class=\"cell\"", in: svg), 9)
        XCTAssertEqual(count("class=\"diag\"", in: svg), 3)
        XCTAssertEqual(count("class=\"heatmap\"", in: svg), 1)
        XCTAssertTrue(svg.contains("max " + ComparisonChart.bytes(3074)))
    }

    func testEdgeCases() {
        let empty = ComparisonChart(title: "nothing", layouts: []).svg()
        assertWellFormed(empty)
        XCTAssertTrue(empty.contains("no data"))

        let odd = ComparisonChart(title: "edge", layouts: [
            Layout(name: "zeros", phases: phases([0, 0, 0]), stepMilliseconds: 0, traffic: [[0, 0], [0, 0]]),
            Layout(name: "one", phases: phases([.nan, .infinity, -3, 2]), stepMilliseconds: .nan, traffic: [[42]]),
            Layout(name: "big", phases: phases([1, 2, 3, 4, 5, 6, 7]), stepMilliseconds: .infinity, traffic: matrix(64)),
            Layout(name: "ragged", phases: [], stepMilliseconds: 5, traffic: [[1, 2, 3], [4], [-1, 0, 1 << 40]]),
        ]).svg()
        assertWellFormed(odd)
        XCTAssertFalse(odd.contains("nan") || odd.contains("inf"))
        XCTAssertEqual(count("class=\"cell\"", in: odd), 4 + 1 + 64 * 64 + 9)
        XCTAssertEqual(count("class=\"segment\"", in: odd), 1 + 7)
        XCTAssertTrue(odd.contains("max 0 B"))
        XCTAssertTrue(odd.contains("max 1 TiB"))
    }

    func testFormatting() {
        XCTAssertEqual(ComparisonChart.num(1.5), "1.5")
        XCTAssertEqual(ComparisonChart.num(-0.001), "0")
        XCTAssertEqual(ComparisonChart.num(2.0), "2")
        XCTAssertEqual(ComparisonChart.num(0.30000000000000004, 6), "0.3")
        XCTAssertEqual(ComparisonChart.num(-12.345, 1), "-12.3")
        XCTAssertEqual(ComparisonChart.bytes(1_258_291), "1.2 MiB")
        XCTAssertEqual(ComparisonChart.bytes(812), "812 B")
        for top in [0.0, 0.003, 1, 7.3, 28, 99.9, 100, 12345] {
            let (step, intervals) = ComparisonChart.ticks(top)
            XCTAssertTrue((3...5).contains(intervals), "\(top): \(intervals)")
            XCTAssertGreaterThanOrEqual(step * Double(intervals), top)
        }
    }
}
