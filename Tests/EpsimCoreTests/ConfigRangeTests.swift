import XCTest
import Foundation
@testable import EpsimCore

/// Every numeric key has one range, checked as it is read and listed in docs/config.md;
/// values that used to crash the run are one-line errors naming the key and the value.
final class ConfigRangeTests: XCTestCase {
    func testValuesThatUsedToTrapAreOneLine() {
        XCTAssertEqual(configErrorMessage("capacity: {factor: 1e17}"),
                       "t.yaml: capacity.factor: expected a number in (0, 1e6] or 'none', got 1e17")
        XCTAssertEqual(configErrorMessage("capacity: {factor: 1e300}"),
                       "t.yaml: capacity.factor: expected a number in (0, 1e6] or 'none', got 1e300")
        XCTAssertEqual(configErrorMessage("capacity: {min_capacity: 9223372036854775807}"),
                       "t.yaml: capacity.min_capacity: expected an integer in [0, 2147483647], got 9223372036854775807")
        XCTAssertEqual(configErrorMessage("compute: {mode: modeled, tflops: 1e-300}"),
                       "t.yaml: compute.tflops: expected a number in [0.001, 1e6], got 1e-300")
        XCTAssertEqual(configErrorMessage("model: {experts: 9223372036854775807}"),
                       "t.yaml: model.experts: expected an integer in [1, 65536], got 9223372036854775807")
        XCTAssertEqual(configErrorMessage("", ["tokens=9223372036854775807"]),
                       "--set tokens=9223372036854775807: tokens: expected an integer in [0, 2147483647], got 9223372036854775807")
        // More digits than an Int holds is out of range too, not a wrong type.
        XCTAssertEqual(configErrorMessage("steps: 99999999999999999999"),
                       "t.yaml: steps: expected an integer in [1, 2147483647], got 99999999999999999999")
    }

    func testTokensTimesTopKMustFitAssignmentIndices() {
        XCTAssertEqual(configErrorMessage("tokens: [4, 1073741824]\nmodel: {top_k: 2}"),
                       "t.yaml: tokens: 1073741824 tokens × model.top_k 2 = 2147483648 assignments on one rank; at most 2147483647 are supported")
        XCTAssertNoThrow(try ConfigLoader.parse(yaml: "tokens: 1073741823\nmodel: {top_k: 2}", file: nil))
    }

    func testEveryBoundIsAcceptedAndTheNextValueRefused() throws {
        // EPLB's keys need a load file of model.experts entries.
        let dir = NSTemporaryDirectory() + "epsim-range-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let load8 = dir + "/8.json", loadMax = dir + "/max.json"
        FileManager.default.createFile(atPath: load8, contents: Data("[1, 1, 1, 1, 1, 1, 1, 1]".utf8))
        FileManager.default.createFile(atPath: loadMax,
                                       contents: Data(("[" + Array(repeating: "1", count: 65536).joined(separator: ",") + "]").utf8))
        // The keys a value needs beside it to be read at all, or to keep its rules.
        let context: [String: [String]] = [
            "placement.redundant_experts": ["placement.kind=eplb", "placement.load=\(load8)"],
            "placement.ranks_per_node": ["placement.kind=eplb", "placement.load=\(load8)"],
            "placement.groups": ["model.experts=65536", "model.top_k=1", "placement.kind=eplb", "placement.load=\(loadMax)"],
            "compute": ["compute.mode=modeled"], "model.experts": ["model.top_k=1"],
            "model.top_k": ["model.experts=65536"], "tokens": ["model.top_k=1"],
            "router.groups": ["model.experts=65536", "model.top_k=1"],
            "router.groups_per_token": ["model.experts=65536", "router.groups=65536", "model.top_k=1"],
            "workload.exponent": ["workload.kind=zipf"],
            "workload.fraction": ["workload.kind=hot", "workload.experts=[0]"],
            "workload.rank": ["workload.kind=hot_rank", "workload.fraction=0.5"],
            "workload.count": ["model.experts=65536", "workload.kind=rotating_hotspot", "workload.fraction=0.5", "workload.period=1"],
            "workload.period": ["workload.kind=rotating_hotspot", "workload.fraction=0.5"],
            "workload.sigma": ["workload.kind=lognormal"],
        ]
        // Keys whose value is a list: each entry has the range.
        let lists = ["router.bias", "workload.experts", "workload.sources", "placement.ranks"]
        var tried = 0
        for key in ConfigKeys.table where !key.path.contains("[") && !lists.contains(key.path) {
            let needs = context[key.path] ?? context[String(key.path.prefix { $0 != "." })] ?? []
            func set(_ value: String) -> [String] { needs + ["\(key.path)=\(value)"] }
            func refused(_ value: String, shown: String) {
                XCTAssertEqual(configErrorMessage("", set(value)), "--set \(key.path)=\(value): \(key.path): \(key.outOfRange(shown))", key.path)
            }
            switch key.values {
            case let .integer(r):
                XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set(String(r.upperBound))), key.path)
                XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set(String(r.lowerBound))), key.path)
                refused(String(r.upperBound + 1), shown: String(r.upperBound + 1))
                refused(String(r.lowerBound - 1), shown: String(r.lowerBound - 1))
            case let .number(lower, lowerOpen, upper, upperOpen):
                if !upperOpen { XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set("\(upper)")), key.path) }
                if !lowerOpen { XCTAssertNoThrow(try ConfigLoader.parse(yaml: "", file: nil, overrides: set("\(lower)")), key.path) }
                refused("\(upper * 2 + 1)", shown: ConfigKey.number(upper * 2 + 1))
                if upperOpen { refused("\(upper)", shown: ConfigKey.number(upper)) }
                if lowerOpen { refused("\(lower)", shown: ConfigKey.number(lower)) }
            default:
                continue
            }
            tried += 1
        }
        XCTAssertEqual(tried, 30, "numeric keys tried")
    }

    /// docs/config.md's key table is the one `ConfigKeys.table` renders, row for row.
    func testDocsKeyTableIsTheCodeTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let docs = try String(contentsOf: root.appendingPathComponent("docs/config.md"), encoding: .utf8)
        let lines = docs.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let code = ConfigKeys.markdown.split(separator: "\n").map(String.init)
        let start = try XCTUnwrap(lines.firstIndex(of: code[0]), "docs/config.md lacks the key table's header")
        let table = lines[start...].prefix { $0.hasPrefix("|") }
        XCTAssertEqual(Array(table), code, "docs/config.md's key table differs from ConfigKeys.markdown")
        XCTAssertEqual(lines.filter { $0 == code[0] }.count, 1, "one key table")
        // Every key has its row.
        for key in ConfigKeys.table { XCTAssertTrue(table.contains { $0.hasPrefix("| `\(key.path)` |") }, key.path) }
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
        XCTAssertEqual(configErrorMessage("precision: {dispatch: fp8}"),
                       "t.yaml: precision.dispatch: expected one of fp32, bf16, fp16, fp8_e4m3, got 'fp8' (did you mean 'fp8_e4m3'?)")
        XCTAssertEqual(nearest("e4m3", in: WirePrecision.allCases.map(\.rawValue)), "fp8_e4m3")
        XCTAssertEqual(nearest("slot", in: Priority.allCases.map(\.rawValue)), "slot_position")
        // Typos are still found by edit distance.
        XCTAssertEqual(nearest("fp23", in: WirePrecision.allCases.map(\.rawValue)), "fp32")
    }
}
