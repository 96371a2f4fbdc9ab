import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif

/// End to end: the report files, `epsim sweep` and `epsim compare`, as a user runs them.
final class ReportCommandTests: XCTestCase {
    /// Checks a trace file: valid JSON, one named track per rank, complete events only on
    /// those tracks.
    private func checkTrace(_ url: URL, ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let doc = try CLI.json(at: url)
        let events = try XCTUnwrap(doc["traceEvents"] as? [[String: Any]], file: file, line: line)
        let tracks = Set(events.filter { $0["ph"] as? String == "X" }.compactMap { $0["tid"] as? Int })
        XCTAssertEqual(tracks, Set(0..<ranks), file: file, line: line)
        let named = events.filter { $0["name"] as? String == "thread_name" }.compactMap {
            ($0["args"] as? [String: Any])?["name"] as? String
        }
        XCTAssertEqual(Set(named), Set((0..<ranks).map { "rank \($0)" }), file: file, line: line)
        for e in events where e["ph"] as? String == "X" {
            XCTAssertNotNil(e["ts"] as? Double, file: file, line: line)
            XCTAssertNotNil(e["dur"] as? Double, file: file, line: line)
            XCTAssertNotNil(e["name"] as? String, file: file, line: line)
        }
    }

    func testRunWritesResultTraceAndCSV() throws {
        let dir = try CLI.temporaryDirectory()
        let result = dir.appendingPathComponent("r.json"), trace = dir.appendingPathComponent("t.json"),
            csv = dir.appendingPathComponent("r.csv")
        let run = try CLI.epsim(["run", "--config", "configs/mixtral.yaml", "--emulate", "4",
                                 "--output", result.path, "--trace", trace.path, "--csv", csv.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try CLI.json(at: result)
        XCTAssertEqual(json["schema"] as? String, "epsim.result/1")
        let steps = try XCTUnwrap((json["steps"] as? [String: Any])?["counted"] as? Int)
        try checkTrace(trace, ranks: 4)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, "step,rank,phase,milliseconds")
        XCTAssertEqual(rows.count, 1 + steps * 4 * 9)
        // No file is left half-written beside the targets.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left, ["r.csv", "r.json", "t.json"])
    }

    func testTraceUnderMPIHasOneTrackPerRank() throws {
        let dir = try CLI.temporaryDirectory()
        let trace = dir.appendingPathComponent("t.json")
        let run = try CLI.mpirun(4, ["run", "--config", "configs/default.yaml", "--set", "steps=2",
                                     "--sync", "--trace", trace.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("\nwait "), run.stdout)
        try checkTrace(trace, ranks: 4)
    }

    func testSweepOfFactorAndPolicy() throws {
        let dir = try CLI.temporaryDirectory()
        let csv = dir.appendingPathComponent("s.csv")
        let run = try CLI.epsim(["sweep", "--config", "configs/skewed.yaml", "--emulate", "4",
                                 "--vary", "capacity.factor=1.0,1.25,2.0", "--vary", "overflow.policy=drop,reroute",
                                 "--csv", csv.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        let rows = lines.filter { $0.hasPrefix("1.0 ") || $0.hasPrefix("1.25 ") || $0.hasPrefix("2.0 ") }
        XCTAssertEqual(rows.count, 6, run.stdout)
        // Drop % (the 4th column) falls as the factor grows, for each policy.
        func dropPercent(_ row: String) -> Double {
            let cells = row.split(separator: " ")
            return Double(cells[4].dropLast())!
        }
        let drop = rows.filter { $0.contains(" drop ") }.map(dropPercent)
        let reroute = rows.filter { $0.contains(" reroute ") }.map(dropPercent)
        XCTAssertEqual(drop.count, 3)
        XCTAssertTrue(drop[0] > drop[1] && drop[1] > drop[2], "\(drop)")
        XCTAssertTrue(reroute[0] >= reroute[1] && reroute[1] >= reroute[2], "\(reroute)")
        XCTAssertTrue(zip(reroute, drop).allSatisfy { $0 < $1 }, "reroute \(reroute) vs drop \(drop)")
        XCTAssertGreaterThanOrEqual(rows.filter { $0.hasSuffix("*") }.count, 1)
        XCTAssertEqual(try String(contentsOf: csv, encoding: .utf8).split(separator: "\n").count, 7)
    }

    func testCompareTwoConfigsWithSVG() throws {
        let dir = try CLI.temporaryDirectory()
        let svg = dir.appendingPathComponent("c.svg"), output = dir.appendingPathComponent("c.json")
        let run = try CLI.epsim(["compare", "configs/default.yaml", "configs/skewed.yaml", "--emulate", "4",
                                 "--set", "steps=3", "--svg", svg.path, "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertTrue(lines[0].contains("default.yaml") && lines[0].contains("skewed.yaml"), run.stdout)
        let step = try XCTUnwrap(lines.first { $0.hasPrefix("  step") })
        XCTAssertTrue(step.contains("(1.00×)"), String(step))
        XCTAssertEqual(step.components(separatedBy: "×)").count - 1, 2)
        let json = try CLI.json(at: output)
        XCTAssertEqual(json["schema"] as? String, "epsim.compare/1")
        XCTAssertEqual((json["layouts"] as? [Any])?.count, 2)
        // The SVG is a well-formed XML document whose root is <svg>.
        final class Root: NSObject, XMLParserDelegate {
            var name: String?
            func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?,
                        qualifiedName: String?, attributes: [String: String] = [:]) {
                if name == nil { name = element }
            }
        }
        let parser = try XCTUnwrap(XMLParser(contentsOf: svg))
        let root = Root()
        parser.delegate = root
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(root.name, "svg")
    }

    func testCompareNeedsTwoFilesAndReadableResults() throws {
        let one = try CLI.epsim(["compare", "configs/default.yaml"])
        XCTAssertNotEqual(one.status, 0)
        XCTAssertTrue(one.stderr.contains("expected two or more files, got 1"), one.stderr)
        let dir = try CLI.temporaryDirectory()
        let bad = dir.appendingPathComponent("bad.json")
        try Data("{\"schema\": \"epsim.result/1\"}".utf8).write(to: bad)
        let run = try CLI.epsim(["compare", bad.path, bad.path, "--emulate", "1"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.errorLines, ["epsim: error: \(bad.path): phases.route.median_ms: missing from the result file"])
    }
}
