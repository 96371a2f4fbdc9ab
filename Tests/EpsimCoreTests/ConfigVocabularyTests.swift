import XCTest
import Foundation
@testable import EpsimCore

/// `workload` and `placement` name their variant `kind`, `compute` names it `mode`
/// (docs/config.md); the other word is refused with the right one suggested, and the
/// docs use the right one.
final class ConfigVocabularyTests: XCTestCase {
    func testTheOtherWordIsRefusedWithTheRightOne() {
        XCTAssertEqual(configErrorMessage("compute: {kind: modeled}"),
                       "t.yaml: compute.kind: unknown key 'kind' (did you mean 'mode'?)")
        XCTAssertEqual(configErrorMessage("workload: {mode: zipf, exponent: 1.1}"),
                       "t.yaml: workload.mode: unknown key 'mode' (did you mean 'kind'?)")
        XCTAssertEqual(configErrorMessage("placement: {mode: contiguous}"),
                       "t.yaml: placement.mode: unknown key 'mode' (did you mean 'kind'?)")
        // A key with no such counterpart gets no suggestion.
        XCTAssertEqual(configErrorMessage("capacity: {kind: local}"), "t.yaml: capacity.kind: unknown key 'kind'")
    }

    func testTheDocsWriteTheComputeModeKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        for doc in ["README.md", "docs/semantics.md", "docs/config.md", "docs/results.md", "docs/model.md"] {
            let text = try String(contentsOf: root.appendingPathComponent(doc), encoding: .utf8)
            for wrong in ["compute: {kind", "compute.kind", "workload: {mode", "workload.mode", "placement: {mode", "placement.mode"] {
                XCTAssertFalse(text.contains(wrong), "\(doc) writes `\(wrong)`")
            }
        }
    }
}
