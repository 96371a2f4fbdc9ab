import XCTest
@testable import EpsimCore

/// `yaml` parsed as if read from "t.yaml", with `overrides` (`--set`).
func parse(_ yaml: String, _ overrides: [String] = []) throws -> SimConfig {
    try ConfigLoader.parse(yaml: yaml, file: "t.yaml", overrides: overrides)
}

/// The error of parsing `yaml` with `overrides`, then of `ConfigLoader.validate` on
/// `worldSize` ranks within `memoryBytes`; nil if both accept it.
func validationError(_ yaml: String, _ overrides: [String] = [], worldSize: Int,
                     memoryBytes: Double = .infinity) -> String? {
    do {
        let c = try parse(yaml, overrides)
        try ConfigLoader.validate(c, worldSize: worldSize, memory: MemoryLimit(bytes: memoryBytes, source: "test"))
        return nil
    } catch { return "\(error)" }
}

/// The one-line message `validationError` gives; fails the test if there is none or it
/// spans lines.
func validationMessage(_ yaml: String, _ overrides: [String] = [], worldSize: Int, memoryBytes: Double = .infinity,
                       file: StaticString = #filePath, line: UInt = #line) -> String {
    guard let text = validationError(yaml, overrides, worldSize: worldSize, memoryBytes: memoryBytes) else {
        XCTFail("expected an error", file: file, line: line)
        return ""
    }
    XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
    return text
}

/// The one-line message of the error that parsing `yaml` (from "t.yaml", with
/// `overrides`) produces; fails the test if there is none or it spans lines.
func configErrorMessage(_ yaml: String, _ overrides: [String] = [], file: StaticString = #filePath,
                        line: UInt = #line) -> String {
    do {
        _ = try parse(yaml, overrides)
        XCTFail("expected an error", file: file, line: line)
        return ""
    } catch {
        let text = "\(error)"
        XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
        return text
    }
}
