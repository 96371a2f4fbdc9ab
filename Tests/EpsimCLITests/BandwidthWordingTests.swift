import XCTest

/// The report's bandwidth line says whether the phase times it divides by include
/// waiting for peers (without `--sync`) or not (with it, the wait is its own phase).
final class BandwidthWordingTests: XCTestCase {
    private func trafficLine(_ extra: [String]) throws -> String {
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2", "--set", "steps=1",
                                 "--set", "tokens=64"] + extra)
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.stdout.split(separator: "\n").map(String.init).first { $0.hasPrefix("traffic:") } ?? ""
    }

    func testTheLineSaysWhetherWaitingIsIncluded() throws {
        let plain = try trafficLine([])
        XCTAssertTrue(plain.hasSuffix("GB/s per rank (waiting for peers included)"), plain)
        let synced = try trafficLine(["--sync"])
        XCTAssertTrue(synced.hasSuffix("GB/s per rank (the --sync wait excluded)"), synced)
    }
}
