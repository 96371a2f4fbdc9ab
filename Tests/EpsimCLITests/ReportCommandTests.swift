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
        // A warning of more ranks than cores, if any, comes first; then the names.
        let lines = run.stdout.split(separator: "\n").filter { !$0.hasPrefix("WARNING: ") }
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

    // MARK: issue 14: noise shown, modeled figures first, nothing lost by a failed point

    /// A time as the table prints it (three decimals).
    private func ms3(_ v: Double) -> String { String(format: "%.3f", v) }
    private func x2(_ v: Double) -> String { String(format: "%.2f", v) }

    func testCompareRepeatPrintsEachStepRatioWithItsSpread() throws {
        let dir = try CLI.temporaryDirectory()
        let output = dir.appendingPathComponent("c.json")
        let run = try CLI.epsim(["compare", "configs/skewed.yaml", "configs/replicated.yaml", "--emulate", "4",
                                 "--set", "steps=2", "--set", "warmup_steps=1", "--repeat", "3",
                                 "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try CLI.json(at: output)
        let layouts = try XCTUnwrap(json["layouts"] as? [[String: Any]])
        XCTAssertEqual(layouts.count, 2)
        var spreads: [(median: Double, min: Double, max: Double)] = []
        for l in layouts {
            XCTAssertEqual(l["repeats"] as? Int, 3)
            let step = try XCTUnwrap((l["measured_ms"] as? [String: Any])?["step"] as? [String: Any])
            let each = try XCTUnwrap(step["per_repeat"] as? [Double])
            XCTAssertEqual(each.count, 3, "one value per run")
            XCTAssertEqual(step["median"] as? Double, each.sorted()[1])
            spreads.append((each.sorted()[1], each.min()!, each.max()!))
        }
        let lines = run.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("median ms [min–max of 3 runs] (× first)"), run.stdout)
        let step = try XCTUnwrap(lines.first { $0.hasPrefix("  step ") }, run.stdout)
        let (a, b) = (spreads[0], spreads[1])
        XCTAssertTrue(step.contains("\(ms3(a.median)) [\(ms3(a.min))–\(ms3(a.max))] (1.00×)"), step)
        let overlap = b.min <= a.max && a.min <= b.max
        let ratio = "\(x2(b.median / a.median))× [\(x2(b.min / a.max))–\(x2(b.max / a.min))]" + (overlap ? " ~" : "")
        XCTAssertTrue(step.hasSuffix("\(ms3(b.median)) [\(ms3(b.min))–\(ms3(b.max))] (\(ratio))"), "\(step)\nwant \(ratio)")
        let noise = try XCTUnwrap(((layouts[1]["measured_ratio_to_first"] as? [String: Any])?["step"] as? [String: Any])?["within_noise"] as? Bool)
        XCTAssertEqual(noise, overlap)
        // The legend says which convention the ranges follow.
        XCTAssertTrue(run.stdout.contains("[min–max] over the runs"), run.stdout)
    }

    /// The modeled part of a compare table: from its heading to the measured times.
    private func modeledTable(_ stdout: String) -> [String] {
        let lines = stdout.split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("modeled ms (× first) on ") }),
              let end = lines.firstIndex(where: { $0.hasPrefix("median ms") }) else { return [] }
        return Array(lines[start..<end])
    }

    func testCompareWithSystemPrintsIdenticalModeledTables() throws {
        let dir = try CLI.temporaryDirectory()
        var outputs: [String] = []
        var documents: [[String: Any]] = []
        for i in 0..<2 {
            let output = dir.appendingPathComponent("c\(i).json")
            let run = try CLI.epsim(["compare", "configs/skewed.yaml", "configs/replicated.yaml", "--emulate", "4",
                                     "--set", "steps=2", "--set", "warmup_steps=0", "--set", "compute=modeled",
                                     "--system", "configs/systems/h100-8x-ib400.yaml", "--output", output.path])
            XCTAssertEqual(run.status, 0, run.stderr)
            outputs.append(run.stdout)
            documents.append(try CLI.json(at: output))
        }
        let first = modeledTable(outputs[0]), second = modeledTable(outputs[1])
        XCTAssertEqual(first, second, "the modeled figures read no clock")
        // It leads: before the measured times, and holds the modeled step and slowest ranks.
        XCTAssertLessThan(outputs[0].range(of: "modeled ms (× first) on h100")!.lowerBound,
                          outputs[0].range(of: "\nmedian ms")!.lowerBound)
        let layouts = try XCTUnwrap(documents[0]["layouts"] as? [[String: Any]])
        let steps = try layouts.map { try XCTUnwrap(($0["median_ms"] as? [String: Any])?["step"] as? Double) }
        let stepRow = try XCTUnwrap(first.first { $0.hasPrefix("  step ") }, first.joined(separator: "\n"))
        XCTAssertTrue(stepRow.contains("\(ms3(steps[0])) (1.00×)"), stepRow)
        XCTAssertTrue(stepRow.hasSuffix("\(ms3(steps[1])) (\(x2(steps[1] / steps[0]))×)"), stepRow)
        let slowest = try XCTUnwrap((layouts[1]["modeled_slowest_rank"] as? [String: Any])?["dispatch"] as? [String: Any])
        let rank = try XCTUnwrap(slowest["rank"] as? Int), time = try XCTUnwrap(slowest["max_ms"] as? Double)
        let block = try XCTUnwrap(first.firstIndex(of: "modeled slowest rank: ms"), first.joined(separator: "\n"))
        let dispatch = try XCTUnwrap(first[block...].first { $0.hasPrefix("  dispatch ") })
        XCTAssertTrue(dispatch.hasSuffix("r\(rank) \(ms3(time))"), dispatch)
        // The bytes between nodes and within them, on that system; the device time of modeled compute.
        XCTAssertTrue(first.contains { $0.hasPrefix("  intra-node ") } && first.contains { $0.hasPrefix("  inter-node ") },
                      first.joined(separator: "\n"))
        // The config's own modeled device (compute: modeled) stays in the JSON; the table
        // leaves it out, since the system's expert time is the one that applies.
        XCTAssertNotNil(layouts[0]["modeled_device_ms"] as? Double)
        XCTAssertFalse(first.contains { $0.hasPrefix("expert device ms") }, first.joined(separator: "\n"))
        XCTAssertFalse(outputs[0].contains("GFLOP/s"))
    }

    func testSweepKeepsTheFinishedPointsWhenALaterPointFails() throws {
        let dir = try CLI.temporaryDirectory()
        let csv = dir.appendingPathComponent("s.csv"), output = dir.appendingPathComponent("s.json")
        // The third point runs 40 steps and rank 0 stalls at step 20; the first two end
        // before it. The watchdog ends the sweep.
        let run = try CLI.epsim(["sweep", "--config", "configs/default.yaml", "--emulate", "2", "--set", "ranks=2",
                                 "--set", "warmup_steps=0", "--vary", "steps=1,2,40", "--timeout", "5",
                                 "--csv", csv.path, "--output", output.path],
                                timeout: 120, environment: ["EPSIM_FAULT_STALL": "0:20"])
        XCTAssertEqual(run.status, 124, run.stderr)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.count, 3, "header and the two finished points: \(rows)")
        XCTAssertTrue(rows[1].hasPrefix("1,") && rows[2].hasPrefix("2,"), "\(rows)")
        let json = try CLI.json(at: output)
        XCTAssertEqual(json["finished"] as? Bool, false)
        let points = try XCTUnwrap(json["points"] as? [[String: Any]])
        XCTAssertEqual(points.map { $0["overrides"] as? [String] ?? [] }, [["steps=1"], ["steps=2"]])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["s.csv", "s.json"])
    }

    func testRepeatOutsideItsRangeIsOneLine() throws {
        for (command, value) in [(["compare", "configs/skewed.yaml", "configs/replicated.yaml"], "0"),
                                 (["sweep", "--config", "configs/skewed.yaml", "--vary", "steps=1"], "101")] {
            let run = try CLI.epsim(command + ["--emulate", "4", "--repeat", value])
            XCTAssertNotEqual(run.status, 0)
            XCTAssertEqual(run.errorLines, ["epsim: error: --repeat: expected 1...100, got \(value) (see 'epsim --help')"])
            XCTAssertEqual(run.stdout, "")
        }
    }
}
