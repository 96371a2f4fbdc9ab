import XCTest
import EpsimConformance
@testable import EpsimRuntime

/// Runs every check of a conformance suite on `ranks` emulated ranks and returns one
/// line per failing check ("P=4 <check>: <error>"); empty when all pass.
func emulatedFailures(_ checks: [ConformanceCheck], ranks: Int) -> [String] {
    checks.compactMap { check in
        do {
            _ = try EmulatedWorld.run(ranks: ranks) { t in try check.run(t) }
            return nil
        } catch {
            return "P=\(ranks) \(check.name): \(error)"
        }
    }
}
