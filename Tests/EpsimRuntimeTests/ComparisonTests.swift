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
        let text = ComparisonTable.text([a, b])
        let lines = text.split(separator: "\n")
        XCTAssertTrue(lines[0].contains("drop.yaml") && lines[0].contains("reroute.yaml"))
        let step = try XCTUnwrap(lines.first { $0.hasPrefix("  step") })
        XCTAssertTrue(step.contains("(1.00×)") && step.contains("(2.00×)"), String(step))
        let drop = try XCTUnwrap(lines.first { $0.hasPrefix("drop") })
        XCTAssertTrue(drop.contains(String(format2: 100 * a.dropRate) + "%"))
        // One row per phase shown (no wait without --sync), plus the figures.
        XCTAssertEqual(lines.count, 2 + Phase.allCases.count - 1 + 7)
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
        fast.medianMs[.step] = 10; fast.dropRate = 0.3
        slow.medianMs[.step] = 20; slow.dropRate = 0
        worse.medianMs[.step] = 25; worse.dropRate = 0.3
        let axis = try Sweep.Axis(parsing: "capacity.factor=1,2,3")
        let rows = Sweep.rows(overrides: Sweep.points([axis]), summaries: [fast, slow, worse])
        XCTAssertEqual(rows.map(\.pareto), [true, true, false])
        let lines = Sweep.text(rows, axes: [axis]).split(separator: "\n")
        XCTAssertEqual(lines.count, 1 + 3 + 1)
        XCTAssertEqual(lines.filter { $0.hasSuffix("  *") }.count, 2)
        let csv = Sweep.csv(rows, axes: [axis]).split(separator: "\n")
        XCTAssertEqual(csv.count, 4)
        XCTAssertTrue(csv[0].hasPrefix("capacity.factor,step_ms,"))
        XCTAssertTrue(csv[3].hasPrefix("3,25.0,") && csv[3].hasSuffix(",false,measured"), String(csv[3]))
    }
}
