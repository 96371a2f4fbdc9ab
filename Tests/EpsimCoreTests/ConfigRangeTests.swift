import XCTest
import Foundation
@testable import EpsimCore

/// Every numeric key has one range, checked as it is read and listed in docs/config.md;
/// values that used to crash the run are one-line errors naming the key and the value.
final class ConfigRangeTests: XCTestCase {
    private func message(_ yaml: String, _ overrides: [String] = [], file: StaticString = #filePath,
                         line: UInt = #line) -> String {
        configErrorMessage(yaml, overrides, file: file, line: line)
    }

    func testValuesThatUsedToTrapAreOneLine() {
        XCTAssertEqual(message("capacity: {factor: 1e17}"),
                       "t.yaml: capacity.factor: expected a number in (0, 1e6] or 'none', got 1e17")
        XCTAssertEqual(message("capacity: {factor: 1e300}"),
                       "t.yaml: capacity.factor: expected a number in (0, 1e6] or 'none', got 1e300")
        XCTAssertEqual(message("capacity: {min_capacity: 9223372036854775807}"),
                       "t.yaml: capacity.min_capacity: expected an integer in [0, 2147483647], got 9223372036854775807")
        XCTAssertEqual(message("compute: {mode: modeled, tflops: 1e-300}"),
                       "t.yaml: compute.tflops: expected a number in [0.001, 1e6], got 1e-300")
        XCTAssertEqual(message("model: {experts: 9223372036854775807}"),
                       "t.yaml: model.experts: expected an integer in [1, 65536], got 9223372036854775807")
        XCTAssertEqual(message("", ["tokens=9223372036854775807"]),
                       "--set tokens=9223372036854775807: tokens: expected an integer in [0, 2147483647], got 9223372036854775807")
        // More digits than an Int holds is out of range too, not a wrong type.
        XCTAssertEqual(message("steps: 99999999999999999999"),
                       "t.yaml: steps: expected an integer in [1, 2147483647], got 99999999999999999999")
    }

    func testTokensTimesTopKMustFitAssignmentIndices() {
        XCTAssertEqual(message("tokens: [4, 1073741824]\nmodel: {top_k: 2}"),
                       "t.yaml: tokens: 1073741824 tokens × model.top_k 2 = 2147483648 assignments on one rank; at most 2147483647 are supported")
        XCTAssertNoThrow(try ConfigLoader.parse(yaml: "tokens: 1073741823\nmodel: {top_k: 2}", file: nil))
    }

    func testEveryBoundIsAcceptedAndTheNextValueRefused() throws {
        for range in ConfigRanges.table where !range.key.contains("[") && range.note.isEmpty {
            // The keys a value needs beside it to be read at all.
            let context: [String: [String]] = [
                "compute": ["compute.mode=modeled"], "model.experts": ["model.top_k=1"], "workload.exponent": ["workload.kind=zipf"],
                "workload.fraction": ["workload.kind=hot", "workload.experts=[0]"],
            ]
            let needs = context[range.key] ?? context[String(range.key.prefix { $0 != "." })] ?? []
            func set(_ value: String) -> [String] { needs + ["\(range.key)=\(value)"] }
            switch range.bounds {
            case let .integer(r):
                XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set(String(r.upperBound))), range.key)
                XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set(String(r.lowerBound))), range.key)
                XCTAssertTrue(message("", set(String(r.upperBound + 1))).contains("\(range.key): expected an integer in \(range.text), got \(r.upperBound + 1)"), range.key)
                XCTAssertTrue(message("", set(String(r.lowerBound - 1))).contains("got \(r.lowerBound - 1)"), range.key)
            case let .number(lower, lowerOpen, upper, upperOpen):
                if !upperOpen { XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set("\(upper)")), range.key) }
                if !lowerOpen { XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set("\(lower)")), range.key) }
                XCTAssertTrue(message("", set("\(upper * 2 + 1)")).contains("\(range.key): expected a number in \(range.text)"), range.key)
            }
        }
    }

    func testEveryRangeIsInTheDocs() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let docs = try String(contentsOf: root.appendingPathComponent("docs/config.md"), encoding: .utf8)
        for range in ConfigRanges.table {
            XCTAssertTrue(docs.contains("| `\(range.key)` | \(range.text) |"), "docs/config.md lacks the range row of \(range.key)")
        }
    }

    func testCapacityNeverOverflows() {
        var cap = CapacityConfig()
        cap.factor = 1e6
        cap.minCapacity = Int(Int32.max)
        XCTAssertEqual(Capacity.local(cap, tokens: Int(Int32.max), topK: 65_536, experts: 1), Capacity.maxCapacity)
        cap.minCapacity = 0
        cap.factor = 1.25
        XCTAssertEqual(Capacity.local(cap, tokens: 512, topK: 2, experts: 8), 160)
    }

    func testSuggestionsPreferPrefixThenContainment() {
        XCTAssertEqual(message("precision: {dispatch: fp8}"),
                       "t.yaml: precision.dispatch: expected one of fp32, bf16, fp16, fp8_e4m3, got 'fp8' (did you mean 'fp8_e4m3'?)")
        XCTAssertEqual(nearest("e4m3", in: WirePrecision.allCases.map(\.rawValue)), "fp8_e4m3")
        XCTAssertEqual(nearest("slot", in: Priority.allCases.map(\.rawValue)), "slot_position")
        // Typos are still found by edit distance.
        XCTAssertEqual(nearest("fp23", in: WirePrecision.allCases.map(\.rawValue)), "fp32")
    }
}
