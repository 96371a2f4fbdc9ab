import XCTest
@testable import EpsimCore

/// Rank-dependent errors name where the value came from: the file, or the `--set`
/// argument that gave it, and say how to run the layout.
final class ConfigOriginTests: XCTestCase {
    func testRanksFromTheCommandLine() throws {
        XCTAssertEqual(validationMessage("ranks: 2", ["ranks=4"], worldSize: 8),
                       "--set ranks=4: ranks: config expects 4 ranks, but the run has 8; "
                        + "run it with --emulate 4 or mpirun -n 4, or change it with --set ranks=8")
        XCTAssertEqual(validationMessage("ranks: 4", [], worldSize: 8),
                       "t.yaml: ranks: config expects 4 ranks, but the run has 8; "
                        + "run it with --emulate 4 or mpirun -n 4, or change it with --set ranks=8")
    }

    func testTokensAndPlacementFromTheCommandLine() throws {
        XCTAssertEqual(validationMessage("", ["tokens=[8,8,8]"], worldSize: 2),
                       "--set tokens=[8,8,8]: tokens: lists 3 ranks, but the run has 2; "
                        + "give one count per rank or run it with --emulate 3 or mpirun -n 3")
        let placement = "placement={kind: explicit, ranks: [[0, 1, 2, 3], [4, 5, 6, 7]]}"
        XCTAssertEqual(validationMessage("", [placement], worldSize: 4),
                       "--set \(placement): placement.ranks: explicit placement lists 2 ranks, but the run has 4; "
                        + "give one list per rank or run it with --emulate 2 or mpirun -n 2")
        // A key below an override, and an override below a key, both count.
        let c = try ConfigLoader.parse(yaml: "", file: "t.yaml", overrides: ["model.hidden=8", "placement.kind=contiguous"])
        XCTAssertEqual(c.origin(of: "model"), "--set model.hidden=8")
        XCTAssertEqual(c.origin(of: "placement.ranks[0]"), "t.yaml")
        XCTAssertEqual(c.origin(of: "steps"), "t.yaml")
    }

    /// An override below a scalar of the file is an error naming the override: the
    /// file's value is never dropped silently (`model: hidden 64` lacks a colon).
    func testOverrideBelowAScalarNamesTheOverride() {
        let cases = [
            ("model: {hidden: 8}", "model.hidden.x=1", "--set model.hidden.x=1: model.hidden: cannot set x below '8', which is not a mapping"),
            ("model:\n  hidden 64\n", "model.ffn=128", "--set model.ffn=128: model: cannot set ffn below 'hidden 64', which is not a mapping"),
            ("hello", "steps=1", "--set steps=1: cannot set steps below 'hello', which is not a mapping; a config is a mapping of keys"),
            ("- 1", "steps=1", "--set steps=1: cannot set steps below a list; a config is a mapping of keys"),
            ("tokens: [1, 2]", "tokens.x=1", "--set tokens.x=1: tokens: cannot set x below a list"),
        ]
        for (yaml, override, message) in cases {
            XCTAssertThrowsError(try ConfigLoader.parse(yaml: yaml, file: "t.yaml", overrides: [override])) { error in
                XCTAssertEqual("\(error)", message)
            }
        }
    }

    /// A name given in shorthand (`workload: gating`) takes keys below it as its mapping.
    func testShorthandBecomesItsMapping() throws {
        let c = try ConfigLoader.parse(yaml: "workload: gating\ncompute: real", file: "t.yaml",
                                       overrides: ["workload.kind=zipf", "workload.exponent=1.5",
                                                   "compute.mode=modeled"])
        XCTAssertEqual(c.workload, .zipf(exponent: 1.5))
        guard case .modeled = c.compute else { return XCTFail("compute: \(c.compute)") }
    }
}
