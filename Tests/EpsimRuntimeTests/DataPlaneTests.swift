import XCTest
import EpsimConformance
@testable import EpsimRuntime

/// The distributed layer equals the reference on 1, 2, 3, 4 and 8 emulated ranks.
final class DataPlaneTests: XCTestCase {
    private func run(ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(DataPlaneConformance.checks.isEmpty, file: file, line: line)
        XCTAssertEqual(emulatedFailures(DataPlaneConformance.checks, ranks: ranks), [], file: file, line: line)
    }

    func testP1() { run(ranks: 1) }
    func testP2() { run(ranks: 2) }
    func testP3() { run(ranks: 3) }
    func testP4() { run(ranks: 4) }
    func testP8() { run(ranks: 8) }
}
