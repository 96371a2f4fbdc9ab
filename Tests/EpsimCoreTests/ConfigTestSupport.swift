import XCTest
@testable import EpsimCore

/// The one-line message of the error that parsing `yaml` (from "t.yaml", with
/// `overrides`) produces; fails the test if there is none or it spans lines.
func configErrorMessage(_ yaml: String, _ overrides: [String] = [], file: StaticString = #filePath,
                        line: UInt = #line) -> String {
    do {
        _ = try ConfigLoader.parse(yaml: yaml, file: "t.yaml", overrides: overrides)
        XCTFail("expected an error", file: file, line: line)
        return ""
    } catch {
        let text = "\(error)"
        XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
        return text
    }
}
