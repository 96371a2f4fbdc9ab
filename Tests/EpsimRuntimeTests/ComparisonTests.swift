import Foundation
import XCTest
import EpsimCore
@testable import EpsimRuntime

/// `epsim compare` and `epsim sweep` logic: result files read back, tables, the sweep
/// grid and its Pareto front.
final class ComparisonTests: XCTestCase {
    private func result(policy: OverflowPolicy) throws -> RunResult {
        var c = SimConfig()
        c.model.hidden = 32
        c.model.ffn = 32
        c.tokens = .uniform(64)
        c.workload = .zipf(exponent: 1.2)
        c.capacity.factor = 1.0
        c.overflow.policy = policy
        c.steps = 2
        c.warmupSteps = 0
        return try emulatedResult(c, ranks: 3)
    }

    private func temporaryFile(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("epsim-cmp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func testResultFileReadsBackTheSameSummary() throws {
        let r = try result(policy: .drop)
        let path = try temporaryFile("r.json")
        try AtomicFile.write(r.json().serialized() + "\n", to: path)
        XCTAssertTrue(LayoutSummary.isResultFile(path))
        let live = LayoutSummary(name: "x", result: r), read = try LayoutSummary(resultFile: path, name: "x")
        for phase in Phase.allCases {
            XCTAssertEqual(read.medianMs[phase]!, live.medianMs[phase]!, accuracy: 1e-9, "\(phase)")
        }
        XCTAssertEqual(read.dropRate, live.dropRate)
        XCTAssertGreaterThan(read.dropRate, 0)
        XCTAssertEqual(read.totalBytes, live.totalBytes)
        XCTAssertEqual(read.offRankBytes, live.offRankBytes)
        XCTAssertEqual(read.traffic, live.traffic)
        XCTAssertEqual(read.traffic.count, 3)
        XCTAssertEqual(read.expertImbalance, live.expertImbalance, accuracy: 1e-12)
    }

    func testBadResultFilesNameTheProblem() throws {
        let wrongSchema = try temporaryFile("w.json")
        try AtomicFile.write("{\"schema\": \"other/1\"}\n", to: wrongSchema)
        XCTAssertThrowsError(try LayoutSummary(resultFile: wrongSchema)) {
            XCTAssertEqual("\($0)", "\(wrongSchema): schema: expected epsim.result/1, got other/1")
        }
        let missing = try temporaryFile("m.json")
        try AtomicFile.write("{\"schema\": \"epsim.result/1\", \"phases\": {}}\n", to: missing)
        XCTAssertThrowsError(try LayoutSummary(resultFile: missing)) {
            XCTAssertEqual("\($0)", "\(missing): phases.route.median_ms: missing from the result file")
        }
        XCTAssertThrowsError(try LayoutSummary(resultFile: "/nonexistent/r.json")) {
            XCTAssertEqual("\($0)", "/nonexistent/r.json: cannot read result file")
        }
        XCTAssertFalse(LayoutSummary.isResultFile("configs/default.yaml"))
    }

    func testComparisonTableHasAColumnPerLayoutAndRatiosToTheFirst() throws {
        let a = LayoutSummary(name: "drop.yaml", result: try result(policy: .drop))
        var b = LayoutSummary(name: "reroute.yaml", result: try result(policy: .reroute))
        b.medianMs[.step] = 2 * a.stepMs
        b.measuredMs[.step] = Spread([2 * a.stepMs])
        let text = ComparisonTable.text([a, b])
        let lines = text.split(separator: "\n")
        XCTAssertTrue(lines[0].contains("drop.yaml") && lines[0].contains("reroute.yaml"))
        let step = try XCTUnwrap(lines.first { $0.hasPrefix("  step") })
        XCTAssertTrue(step.contains("(1.00×)") && step.contains("(2.00×)"), String(step))
        let drop = try XCTUnwrap(lines.first { $0.hasPrefix("drop") })
        XCTAssertTrue(drop.contains(String(format2: 100 * a.dropRate) + "%"))
        // Header, then a heading and one row per phase shown (no wait without --sync) for
        // the medians and for the slowest ranks, then communication, drop, reroute,
        // weight lost, imbalance, bytes and bytes between ranks.
        XCTAssertEqual(lines.count, 1 + 2 * (1 + Phase.allCases.count - 1) + 7)
        let json = ComparisonTable.json([a, b])
        guard case let .array(layouts)? = json["layouts"] else { return XCTFail("no layouts") }
        XCTAssertEqual(layouts.count, 2)
        XCTAssertEqual(layouts[1]["ratio_to_first"]?["step"], .double(2))
        XCTAssertEqual(ComparisonTable.columnNames(["a/x.yaml", "b/x.yaml", "c/y.yaml"]), ["a/x.yaml", "b/x.yaml", "y.yaml"])
    }

    func testSweepAxesAndGrid() throws {
        let factor = try Sweep.Axis(parsing: "capacity.factor=1.0,1.25, 2.0")
        XCTAssertEqual(factor.key, "capacity.factor")
        XCTAssertEqual(factor.values, ["1.0", "1.25", "2.0"])
        XCTAssertEqual(try Sweep.Axis(parsing: "tokens=[64,128],[128,64]").values, ["[64,128]", "[128,64]"])
        let policy = try Sweep.Axis(parsing: "overflow.policy=drop,reroute")
        let points = Sweep.points([factor, policy])
        XCTAssertEqual(points.count, 6)
        XCTAssertEqual(points[0], ["capacity.factor=1.0", "overflow.policy=drop"])
        XCTAssertEqual(points[1], ["capacity.factor=1.0", "overflow.policy=reroute"])
        XCTAssertEqual(points[5], ["capacity.factor=2.0", "overflow.policy=reroute"])
        XCTAssertThrowsError(try Sweep.Axis(parsing: "capacity.factor")) {
            XCTAssertEqual("\($0)", "--vary: expected key=v1,v2,..., got 'capacity.factor'")
        }
        XCTAssertThrowsError(try Sweep.Axis(parsing: "a=1,,2")) {
            XCTAssertEqual("\($0)", "--vary: a: empty value in 'a=1,,2'")
        }
    }

    func testParetoFrontOnASyntheticCase() {
        // (step ms, drop rate): the fast-but-lossy and slow-but-lossless ends are both on
        // the front; a point worse in both than another is not; ties in both stay.
        let step: [Double] = [10, 20, 15, 30, 10, 25, 40, 40]
        let drop: [Double] = [0.5, 0.1, 0.3, 0.0, 0.6, 0.2, 0.0, 0.0]
        XCTAssertEqual(Sweep.paretoFront(stepMs: step, dropRate: drop),
                       [true, true, true, true, false, false, false, false])
        XCTAssertEqual(Sweep.paretoFront(stepMs: [1, 1], dropRate: [0, 0]), [true, true])
    }

    func testSweepTableMarksTheFront() throws {
        let a = LayoutSummary(name: "a", result: try result(policy: .drop))
        var fast = a, slow = a, worse = a
        fast.medianMs[.step] = 10; fast.dropRate = 0.3; fast.measuredMs[.step] = Spread([10])
        slow.medianMs[.step] = 20; slow.dropRate = 0; slow.measuredMs[.step] = Spread([20])
        worse.medianMs[.step] = 25; worse.dropRate = 0.3; worse.measuredMs[.step] = Spread([25])
        let axis = try Sweep.Axis(parsing: "capacity.factor=1,2,3")
        let rows = Sweep.rows(overrides: Sweep.points([axis]), summaries: [fast, slow, worse])
        XCTAssertEqual(rows.map(\.pareto), [true, true, false])
        let lines = Sweep.text(rows, axes: [axis]).split(separator: "\n")
        XCTAssertEqual(lines.count, 1 + 3 + 2)
        XCTAssertEqual(lines.filter { $0.hasSuffix("  *") }.count, 2)
        let csv = Sweep.csv(rows, axes: [axis]).split(separator: "\n")
        XCTAssertEqual(csv.count, 4)
        XCTAssertTrue(csv[0].hasPrefix("capacity.factor,step_ms,"))
        XCTAssertTrue(csv[0].hasSuffix(",times,step_ms_min,step_ms_max,repeats,pareto_within_noise,dropped_weight_share,off_rank_bytes"))
        XCTAssertTrue(csv[3].hasPrefix("3,25.0,") && csv[3].contains(",false,measured,"), String(csv[3]))
    }

    // MARK: --repeat, noise and the figures of the table (issue 14)

    /// The table's cell for `name`'s column on the row starting with `label` (two spaces
    /// or more separate cells; the label may hold single spaces).
    private func cells(_ text: String, row label: String) -> [String] {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(label + "  ") }) else { return [] }
        return line.dropFirst(label.count).components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    func testRepeatsGiveTheMedianOfEachRunAndTheirRange() throws {
        let runs = try (0..<3).map { _ in try result(policy: .drop) }
        let s = LayoutSummary(name: "x", results: runs)
        XCTAssertEqual(s.repeats, 3)
        for phase in Phase.allCases {
            let each = runs.map { $0.phases[phase].median * 1e3 }
            XCTAssertEqual(s.measuredMs[phase]?.values, each, "\(phase)")
            XCTAssertEqual(s.medianMs[phase]!, each.sorted()[1], accuracy: 1e-12, "\(phase): the median of three")
        }
        // The decisions are the first run's (same seed): identical in every run.
        XCTAssertEqual(s.dropRate, runs[0].dropRate)
        XCTAssertEqual(s.weightLostRate, runs[0].total.droppedWeightShare)
        let json = s.json
        guard case let .array(perRepeat)? = json["measured_ms"]?["step"]?["per_repeat"] else { return XCTFail("per_repeat") }
        XCTAssertEqual(perRepeat, runs.map { .double($0.phases[.step].median * 1e3) })
        XCTAssertEqual(json["repeats"], .int(3))
    }

    func testRatiosShowTheirRangeAndMarkOverlapsAsNoise() throws {
        let base = LayoutSummary(name: "a", result: try result(policy: .drop))
        var a = base, b = base, c = base
        a.name = "a"; b.name = "b"; c.name = "c"
        a.measuredMs[.step] = Spread([10, 11, 12])
        b.measuredMs[.step] = Spread([10.5, 11.5, 13])   // overlaps a's range
        c.measuredMs[.step] = Spread([20, 21, 22])       // clear of it
        for l in [a, b, c] { XCTAssertTrue(l.measuredMs[.step]!.isRange) }
        var layouts = [a, b, c]
        for i in layouts.indices { layouts[i].repeats = 3 }
        let text = ComparisonTable.text(layouts)
        let step = cells(text, row: "  step")
        XCTAssertEqual(step, ["11.000 [10.000–12.000] (1.00×)",
                              "11.500 [10.500–13.000] (1.05× [0.88–1.30] ~)",
                              "21.000 [20.000–22.000] (1.91× [1.67–2.20])"], text)
        XCTAssertTrue(text.contains("median ms [min–max of 3 runs] (× first)"), text)
        XCTAssertTrue(text.contains("~ marks a ratio whose ranges overlap"), text)
        let json = ComparisonTable.json(layouts)
        guard case let .array(out)? = json["layouts"] else { return XCTFail("layouts") }
        XCTAssertEqual(out[1]["measured_ratio_to_first"]?["step"]?["within_noise"], .bool(true))
        XCTAssertEqual(out[2]["measured_ratio_to_first"]?["step"]?["within_noise"], .bool(false))
        XCTAssertEqual(out[2]["measured_ratio_to_first"]?["step"]?["min"], .double(20.0 / 12))
    }

    func testTheTableHasTheFiguresTheQuestionsNeed() throws {
        let r = try result(policy: .drop)
        let s = LayoutSummary(name: "drop.yaml", result: r)
        let text = ComparisonTable.text([s, s])
        for phase in Phase.allCases where phase != .wait {
            let f = r.phases[phase]
            // The slowest-rank block follows the medians: the second row of the phase.
            let rows = text.split(separator: "\n").filter { $0.hasPrefix("  \(phase) ") }
            XCTAssertEqual(rows.count, 2, "\(phase): \(text)")
            XCTAssertTrue(rows[1].hasSuffix("r\(f.slowestRank) " + String(format3: f.slowestMean * 1e3)),
                          "\(phase): \(rows[1])")
        }
        XCTAssertEqual(cells(text, row: "weight lost"), Array(repeating: percent(r.total.droppedWeightShare), count: 2))
        XCTAssertGreaterThan(r.total.droppedWeightShare, 0)
        XCTAssertEqual(cells(text, row: "imbalance expert/rank").first,
                       String(format2: r.total.expertImbalance) + " / " + String(format2: r.metrics.rankImbalance))
        XCTAssertEqual(cells(text, row: "  between ranks").first, byteText(r.traffic.offRankBytes))
        // Without --verify, modeled compute or a system, those rows are absent.
        XCTAssertFalse(text.contains("verify") || text.contains("device ms") || text.contains("intra-node"), text)

        var v = s
        v.verifyMaxRelError = 2.5e-7
        v.verifyPassed = true
        v.modeledDeviceMs = 1.25
        let more = ComparisonTable.text([s, v])
        XCTAssertEqual(cells(more, row: "verify max rel error"), ["-", "2.5e-07 PASS"])
        XCTAssertEqual(cells(more, row: "expert device ms"), ["-", "1.250"])
    }

    func testModeledComputeReportsTheDeviceOnTheSlowestRankAndNoMeasuredRate() throws {
        var c = SimConfig()
        c.model.hidden = 32
        c.model.ffn = 32
        c.tokens = .uniform(64)
        c.workload = .zipf(exponent: 1.2)
        c.compute = .modeled(tflops: 0.001, efficiency: 1)
        c.capacity.factor = nil
        c.steps = 2
        c.warmupSteps = 0
        let r = try emulatedResult(c, ranks: 3)
        let device = try XCTUnwrap(r.modeledDeviceMs)
        // Per step the largest over ranks of the device time of the FLOPs each computed.
        var expected = 0.0
        var medianOverRanks = 0.0
        for s in 0..<r.metrics.steps {
            let perRank = (0..<r.ranks).map { r.metrics.value(.expertFlops, rank: $0, step: s) / (0.001 * 1e12) }
            expected += perRank.max()!
            medianOverRanks += perRank.sorted()[1]
        }
        expected = expected / Double(r.metrics.steps) * 1e3
        XCTAssertEqual(device, expected, accuracy: 1e-9)
        XCTAssertGreaterThan(device, medianOverRanks / Double(r.metrics.steps) * 1e3, "the slowest rank, not the median")
        let report = r.terminalReport()
        XCTAssertFalse(report.contains("GFLOP/s"), report)
        XCTAssertTrue(report.contains("the device takes \(String(format3: device)) ms per step on the slowest rank"), report)
        XCTAssertEqual(r.json()["compute"]?["modeled_device_ms"], .double(device))
        XCTAssertEqual(LayoutSummary(name: "m", result: r).modeledDeviceMs, device)
        var real = c
        real.compute = .real
        XCTAssertNil(try emulatedResult(real, ranks: 3).modeledDeviceMs)
    }

    func testParetoMarksInsideTheNoise() throws {
        // Overlapping step ranges at the same drop rate: which one is on the front is noise.
        XCTAssertEqual(Sweep.paretoWithinNoise(steps: [Spread([10, 12]), Spread([11, 13])], dropRate: [0.1, 0.1]),
                       [true, true])
        // Apart: the front is sure.
        XCTAssertEqual(Sweep.paretoWithinNoise(steps: [Spread([10, 11]), Spread([12, 13])], dropRate: [0.1, 0.1]),
                       [false, false])
        // One run each: never inside the noise.
        XCTAssertEqual(Sweep.paretoWithinNoise(steps: [Spread([10]), Spread([11])], dropRate: [0.1, 0.1]), [false, false])
        // Dropping less keeps the second on the front whatever the times; the first is
        // faster by its median, but inside the noise the second may be as fast.
        XCTAssertEqual(Sweep.paretoWithinNoise(steps: [Spread([10, 12]), Spread([11, 13])], dropRate: [0.1, 0.0]),
                       [true, false])
        XCTAssertEqual(Sweep.paretoWithinNoise(steps: [Spread([10, 11]), Spread([12, 13])], dropRate: [0.1, 0.0]),
                       [false, false])

        let a = LayoutSummary(name: "a", result: try result(policy: .drop))
        var fast = a, slow = a
        fast.medianMs[.step] = 11; fast.measuredMs[.step] = Spread([10, 11, 12]); fast.repeats = 3
        slow.medianMs[.step] = 12; slow.measuredMs[.step] = Spread([11, 12, 13]); slow.repeats = 3
        fast.dropRate = 0.1; slow.dropRate = 0.1
        let axis = try Sweep.Axis(parsing: "capacity.factor=1,2")
        let rows = Sweep.rows(overrides: Sweep.points([axis]), summaries: [fast, slow])
        XCTAssertEqual(rows.map(\.pareto), [true, false])
        XCTAssertEqual(rows.map(\.paretoWithinNoise), [true, true])
        let lines = Sweep.text(rows, axes: [axis]).split(separator: "\n")
        XCTAssertTrue(lines[1].hasSuffix("  *~") && lines[1].contains("[10.000–12.000]"), String(lines[1]))
        XCTAssertTrue(lines[2].hasSuffix("  ~") && lines[2].contains("[11.000–13.000]"), String(lines[2]))
        let csv = Sweep.csv(rows, axes: [axis]).split(separator: "\n")
        XCTAssertTrue(csv[1].contains(",10.0,12.0,3,true,"), String(csv[1]))
    }

    func testSweepFilesHoldEveryFinishedPoint() throws {
        let csvPath = try temporaryFile("s.csv")
        let jsonPath = (csvPath as NSString).deletingLastPathComponent + "/s.json"
        let a = LayoutSummary(name: "a", result: try result(policy: .drop))
        let axis = try Sweep.Axis(parsing: "capacity.factor=1,2,3")
        let points = Sweep.points([axis])
        let files = try Sweep.Files(csv: csvPath, json: jsonPath)
        XCTAssertFalse(FileManager.default.fileExists(atPath: csvPath), "nothing before the first point")
        try files.write(Sweep.rows(overrides: points, summaries: [a]), axes: [axis], config: "c.yaml", finished: false)
        var csv = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 2)
        XCTAssertTrue(csv[1].hasPrefix("1,"), String(csv[1]))
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonPath))) as? [String: Any])
        XCTAssertEqual(json["finished"] as? Bool, false)
        XCTAssertEqual((json["points"] as? [Any])?.count, 1)
        try files.write(Sweep.rows(overrides: points, summaries: [a, a, a]), axes: [axis], config: "c.yaml", finished: true)
        csv = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 4)
        json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonPath))) as? [String: Any])
        XCTAssertEqual(json["finished"] as? Bool, true)
        XCTAssertEqual((json["points"] as? [Any])?.count, 3)
        // No temporary file is left beside them.
        let dir = (csvPath as NSString).deletingLastPathComponent
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["s.csv", "s.json"])
        // A device is written in place, once, at the end.
        XCTAssertTrue(try AtomicFile.Writer(path: "/dev/null").writesInPlace)
        XCTAssertFalse(try AtomicFile.Writer(path: csvPath).writesInPlace)
        XCTAssertNoThrow(try Sweep.Files(csv: "/dev/null", json: nil).write([], axes: [axis], config: "c", finished: true))
    }
}

/// Progress on standard error: quiet for short work, plain lines off a terminal.
final class ProgressLineTests: XCTestCase {
    private final class Clock: @unchecked Sendable { var now = 0.0 }

    func testPlainLinesAtEachQuarterOffATerminal() {
        let clock = Clock()
        var written: [String] = []
        let line = ProgressLine(total: 8, unit: "run", label: "sweep", terminal: false, clock: { clock.now },
                                write: { written.append($0) })
        for done in 1...8 {
            clock.now = Double(done)
            line.update(done: done)
        }
        line.finish()
        // Nothing in the first two seconds; then one line per quarter crossed: 3/8 (the
        // first quarter), 4/8, 6/8, 8/8.
        XCTAssertEqual(written, [
            "sweep: run 3/8 (37%) · 3.00 s elapsed · ~5.00 s left\n",
            "sweep: run 4/8 (50%) · 4.00 s elapsed · ~4.00 s left\n",
            "sweep: run 6/8 (75%) · 6.00 s elapsed · ~2.00 s left\n",
            "sweep: run 8/8 (100%) · 8.00 s elapsed\n",
        ])
    }

    func testPlainLinesAtLeastEveryThirtySecondsAndNoneForShortWork() {
        let clock = Clock()
        var written: [String] = []
        let slow = ProgressLine(total: 1000, unit: "step", label: nil, terminal: false, clock: { clock.now },
                                write: { written.append($0) })
        for done in 1...7 {
            clock.now = Double(done) * 10
            slow.update(done: done)
        }
        XCTAssertEqual(written.map { String($0.prefix(13)) }, ["step 3/1000 (", "step 6/1000 ("])
        written = []
        clock.now = 0
        let quick = ProgressLine(total: 4, unit: "step", label: nil, terminal: false, clock: { clock.now },
                                 write: { written.append($0) })
        for done in 1...4 {
            clock.now = Double(done) * 0.4
            quick.update(done: done)
        }
        quick.finish()
        XCTAssertEqual(written, [])
    }

    func testATerminalLineIsRedrawnAndErased() {
        let clock = Clock()
        var written: [String] = []
        let line = ProgressLine(total: 4, unit: "step", label: nil, terminal: true, clock: { clock.now },
                                write: { written.append($0) })
        for done in 1...4 {
            clock.now = 2 + Double(done)
            line.update(done: done)
        }
        line.finish()
        XCTAssertEqual(written.count, 5)
        XCTAssertEqual(written[1], "\r\u{1B}[Kstep 2/4 (50%) · 4.00 s elapsed · ~4.00 s left")
        XCTAssertEqual(written.last, "\r\u{1B}[K")
    }

    func testRunWarningsNameRanksOverCores() {
        let quiet = HostLoad(loadAverage: 0.1, cores: 2)
        XCTAssertNil(quiet.measuredTimesWarning(ranksOnHost: 2, modeled: false))
        XCTAssertEqual(quiet.measuredTimesWarning(ranksOnHost: 4, modeled: false),
                       "WARNING: 4 ranks on 2 cores: ranks wait for a core, and the measured times include that wait")
        XCTAssertEqual(quiet.measuredTimesWarning(ranksOnHost: 3, modeled: true),
                       "WARNING: 3 ranks on 2 cores: ranks wait for a core, and the measured times include that wait"
                       + " (the modeled times do not: they read no clock)")
    }
}
