import XCTest
import EpsimConformance
@testable import EpsimRuntime

/// Seeded layouts finish and verify on 1 to 4 and 8 emulated ranks; the emulated
/// transport fails any exchange in which ranks called different collectives.
final class SeededLayoutTests: XCTestCase {
    private func run(ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(SeededLayoutConformance.checks.isEmpty, file: file, line: line)
        XCTAssertEqual(emulatedFailures(SeededLayoutConformance.checks, ranks: ranks), [], file: file, line: line)
    }

    func testP1() { run(ranks: 1) }
    func testP2() { run(ranks: 2) }
    func testP3() { run(ranks: 3) }
    func testP4() { run(ranks: 4) }
    func testP8() { run(ranks: 8) }

    /// The emulated transport reports ranks that call different collectives (MPI would
    /// hang) instead of pairing them up.
    func testMismatchedCollectivesAreReported() throws {
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 2) { t in
            if t.rank == 0 { try t.barrier() } else { _ = try t.allreduce([1.0], op: .sum) }
        }) { error in
            XCTAssertTrue("\(error)".contains("collective mismatch: rank 0 called barrier while rank 1 called allreduce"),
                          "\(error)")
        }
    }

    /// A rank whose thread cannot start fails the world at once (its peers are released
    /// from their collectives), with the rank and the reason.
    func testThreadThatCannotStartIsReported() throws {
        // A stack larger than any address space: pthread_create fails for every rank.
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 3, stackBytes: 1 << 60) { t in try t.barrier() }) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("--emulate 3: cannot start the thread of rank 0: "), text)
        }
    }
}
