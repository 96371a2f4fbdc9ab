import XCTest
import EpsimConformance
@testable import EpsimRuntime

/// Runs every check of a conformance suite on `ranks` emulated ranks, one failure per
/// failing check (named with P and the check).
func runEmulated(_ checks: [ConformanceCheck], ranks: Int, file: StaticString = #filePath, line: UInt = #line) {
    for check in checks {
        do {
            _ = try EmulatedWorld.run(ranks: ranks) { t in try check.run(t) }
        } catch {
            XCTFail("P=\(ranks) \(check.name): \(error)", file: file, line: line)
        }
    }
}
