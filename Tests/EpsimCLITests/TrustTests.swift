import Foundation
import XCTest

/// Every accepted value runs to the end; every other value, and every layout that cannot
/// fit in memory, is one line on stderr, a non-zero exit, no trap and no wait.
final class TrustTests: XCTestCase {
    private func assertOneLine(_ run: CLI.Outcome, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(run.status, 1, run.stderr, file: file, line: line)
        XCTAssertEqual(run.errorLines.count, 1, run.stderr, file: file, line: line)
        XCTAssertTrue(run.stderr.hasPrefix("epsim: error: " + expected), run.stderr, file: file, line: line)
        XCTAssertFalse(run.stderr.contains("Fatal error"), run.stderr, file: file, line: line)
    }

    private func run(_ sets: [String], emulate: Int = 4, timeout: Double = 60) throws -> CLI.Outcome {
        try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "\(emulate)"]
                      + sets.flatMap { ["--set", $0] }, timeout: timeout)
    }

    func testValuesAtTheEndsOfTheirRangesRunToTheEnd() throws {
        let tiny = ["model={hidden: 2, ffn: 2, experts: 8, top_k: 2}", "tokens=8", "steps=1", "warmup_steps=0"]
        for extreme in [["capacity.factor=1e6", "capacity.min_capacity=2147483647"],
                        ["compute={mode: modeled, tflops: 0.001, efficiency: 0.001}"],
                        ["router.noise_std=1000", "overflow={policy: reroute, max_reroutes: 65536}"],
                        ["workload={kind: zipf, exponent: 100}"]] {
            let r = try run(tiny + extreme)
            XCTAssertEqual(r.status, 0, "\(extreme): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("accounting:"), "\(extreme): \(r.stdout)")
        }
    }

    func testValuesThatUsedToTrapAreOneLine() throws {
        assertOneLine(try run(["capacity.factor=1e17"]),
                      "--set capacity.factor=1e17: capacity.factor: expected a number in (0, 1e6] or 'none', got 1e17")
        assertOneLine(try run(["compute={mode: modeled, tflops: 1e-300}"]),
                      "--set compute={mode: modeled, tflops: 1e-300}: compute.tflops: expected a number in [0.001, 1e6], got 1e-300")
        assertOneLine(try run(["tokens=9223372036854775807"]),
                      "--set tokens=9223372036854775807: tokens: expected an integer in [0, 2147483647], got 9223372036854775807")
    }

    func testLayoutsThatCannotFitAreRefusedBeforeAllocating() throws {
        let start = Date()
        assertOneLine(try run(["steps=2000000000"]), "--set steps=2000000000: steps = 2000000000 needs an estimated")
        assertOneLine(try run(["model={hidden: 10000000}"]),
                      "--set model={hidden: 10000000}: tokens × model.top_k × model.hidden = 512 × 2 × 10000000 needs")
        assertOneLine(try run(["model.layers=1000000"]),
                      "--set model.layers=1000000: model.layers × model.experts × model.hidden × model.ffn = 1000000 × 8 × 256 × 512 needs")
        assertOneLine(try run(["ranks=2", "tokens=[32, 40000000]"], emulate: 2),
                      "--set tokens=[32, 40000000]: tokens × model.top_k × model.hidden = [32, 40000000] × 2 × 256 needs")
        XCTAssertLessThan(Date().timeIntervalSince(start), 30, "refusals must come before any allocation")
    }

    func testRankMismatchFromTheCommandLineNamesTheOverride() throws {
        assertOneLine(try run(["ranks=4"], emulate: 8),
                      "--set ranks=4: ranks: config expects 4 ranks, but the run has 8; "
                        + "run it with --emulate 4 or mpirun -n 4, or change it with --set ranks=8")
    }

    func testUnboundedInputsStop() throws {
        assertOneLine(try CLI.epsim(["validate", "--config", "/dev/zero"], timeout: 30),
                      "/dev/zero: cannot read file: a device, not a regular file")
        let path = try CLI.temporaryDirectory().appendingPathComponent("complex.yaml").path
        try "? [a, b]\n: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        let complex = try CLI.epsim(["validate", "--config", path])
        assertOneLine(complex, "\(path): a key must be a name, got a list at line 1")
        XCTAssertLessThan(complex.stderr.count, 200 + path.count, complex.stderr)
    }

    /// The estimate `epsim validate` prints is within a stated factor of a real run's peak
    /// RSS (docs/config.md: measured 0.99–1.08×; asserted loosely: 0.5× to 2×).
    func testEstimateMatchesPeakRSS() throws {
        let sets = ["tokens=16384", "steps=1", "warmup_steps=0"].flatMap { ["--set", $0] }
        let validate = try CLI.epsim(["validate", "--config", "configs/default.yaml", "--emulate", "4"] + sets)
        XCTAssertEqual(validate.status, 0, validate.stderr)
        let last = validate.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("memory estimate: "), last)
        let words = last.split(separator: " ")
        guard words.count > 3, let number = Double(words[2]) else { return XCTFail(last) }
        let scale: [Substring: Double] = ["MiB": 1_048_576, "GiB": 1_073_741_824]
        let estimate = number * (scale[words[3]] ?? .nan)
        let output = try CLI.temporaryDirectory().appendingPathComponent("rss.json")
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--output", output.path] + sets,
                                timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: output)) as? [String: Any]
        let peak = ((json?["memory"] as? [String: Any])?["peak_rss_bytes"] as? NSNumber)?.doubleValue ?? 0
        XCTAssertGreaterThan(estimate, 512 * 1024 * 1024, last)
        XCTAssertGreaterThan(peak / estimate, 0.5, "peak \(peak), estimate \(estimate)")
        XCTAssertLessThan(peak / estimate, 2, "peak \(peak), estimate \(estimate)")
    }

    func testCompareRefusesAnImpossibleByteCount() throws {
        let dir = try CLI.temporaryDirectory()
        let good = dir.appendingPathComponent("a.json")
        let r = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4", "--output", good.path,
                               "--set", "steps=1", "--set", "warmup_steps=0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var text = try String(contentsOf: good, encoding: .utf8)
        let key = "\"total_bytes\": "
        guard let at = text.range(of: key) else { return XCTFail("no total_bytes in \(good.path)") }
        let end = text[at.upperBound...].firstIndex { $0 == "," || $0 == "\n" }!
        text.replaceSubrange(at.upperBound..<end, with: "1e300")
        let bad = dir.appendingPathComponent("b.json")
        try text.write(to: bad, atomically: true, encoding: .utf8)
        assertOneLine(try CLI.epsim(["compare", good.path, bad.path]),
                      "\(bad.path): traffic.total_bytes: expected a byte count in [0, 2^62], got 1e+300")
    }
}
