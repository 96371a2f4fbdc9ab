import XCTest
import EpsimConformance
@testable import EpsimRuntime

/// `dispatch.dedup: rank`: the distributed layer equals the reference, its bytes are
/// token-rank pairs and its outputs equal `dedup: none`'s, on 1, 2, 3, 4 and 8 emulated
/// ranks (the MPI suite runs the same checks under mpirun).
final class DedupDataPlaneTests: XCTestCase {
    private func run(ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(DedupConformance.checks.isEmpty, file: file, line: line)
        XCTAssertEqual(emulatedFailures(DedupConformance.checks, ranks: ranks), [], file: file, line: line)
    }

    func testP1() { run(ranks: 1) }
    func testP2() { run(ranks: 2) }
    func testP3() { run(ranks: 3) }
    func testP4() { run(ranks: 4) }
    func testP8() { run(ranks: 8) }
}
