import XCTest
@testable import EpsimCore

/// Rank-dependent errors name where the value came from: the file, or the `--set`
/// argument that gave it, and say how to run the layout.
final class ConfigOriginTests: XCTestCase {
    private func validationError(_ yaml: String, _ overrides: [String], worldSize: Int) throws -> String {
        let c = try ConfigLoader.parse(yaml: yaml, file: "t.yaml", overrides: overrides)
        do {
            try ConfigLoader.validate(c, worldSize: worldSize, memory: MemoryLimit(bytes: .infinity, source: "test"))
            XCTFail("expected an error")
            return ""
        } catch { return "\(error)" }
    }

    func testRanksFromTheCommandLine() throws {
        XCTAssertEqual(try validationError("ranks: 2", ["ranks=4"], worldSize: 8),
                       "--set ranks=4: ranks: config expects 4 ranks, but the run has 8; "
                        + "run it with --emulate 4 or mpirun -n 4, or change it with --set ranks=8")
        XCTAssertEqual(try validationError("ranks: 4", [], worldSize: 8),
                       "t.yaml: ranks: config expects 4 ranks, but the run has 8; "
                        + "run it with --emulate 4 or mpirun -n 4, or change it with --set ranks=8")
    }

    func testTokensAndPlacementFromTheCommandLine() throws {
        XCTAssertEqual(try validationError("", ["tokens=[8,8,8]"], worldSize: 2),
                       "--set tokens=[8,8,8]: tokens: lists 3 ranks, but the run has 2; "
                        + "give one count per rank or run it with --emulate 3 or mpirun -n 3")
        let placement = "placement={kind: explicit, ranks: [[0, 1, 2, 3], [4, 5, 6, 7]]}"
        XCTAssertEqual(try validationError("", [placement], worldSize: 4),
                       "--set \(placement): placement.ranks: explicit placement lists 2 ranks, but the run has 4; "
                        + "give one list per rank or run it with --emulate 2 or mpirun -n 2")
        // A key below an override, and an override below a key, both count.
        let c = try ConfigLoader.parse(yaml: "", file: "t.yaml", overrides: ["model.hidden=8", "placement.kind=contiguous"])
        XCTAssertEqual(c.origin(of: "model"), "--set model.hidden=8")
        XCTAssertEqual(c.origin(of: "placement.ranks[0]"), "t.yaml")
        XCTAssertEqual(c.origin(of: "steps"), "t.yaml")
    }

    /// An override below a scalar of the file turns the scalar into a mapping: the
    /// mapping came from the override, and so does the error about it.
    func testOverrideBelowAScalarNamesTheOverride() {
        XCTAssertThrowsError(try ConfigLoader.parse(yaml: "model: {hidden: 8}", file: "t.yaml",
                                                    overrides: ["model.hidden.x=1"])) { error in
            XCTAssertEqual("\(error)", "--set model.hidden.x=1: model.hidden: expected an integer in [1, 16777216], got a mapping")
        }
    }
}
