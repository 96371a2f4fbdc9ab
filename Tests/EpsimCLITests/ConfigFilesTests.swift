import Foundation
import XCTest

/// Every shipped config in configs/ loads, runs on 4 emulated ranks, verifies against
/// the reference and accounts for every assignment (64 tokens per rank, one step: the
/// debug build verifies in double-precision loops).
final class ConfigFilesTests: XCTestCase {
    private func configFiles() throws -> [String] {
        let dir = CLI.root.appendingPathComponent("configs")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }

    func testTheDocumentedLayoutsAreShipped() throws {
        let names = Set(try configFiles())
        for expected in ["default", "skewed", "switch", "mixtral", "deepseek", "dbrx", "replicated"] {
            XCTAssertTrue(names.contains("\(expected).yaml"), "configs/\(expected).yaml is missing")
        }
    }

    func testEveryConfigRunsAndVerifies() throws {
        let dir = try CLI.temporaryDirectory()
        for name in try configFiles() {
            let output = dir.appendingPathComponent("\(name).json")
            let run = try CLI.epsim(["run", "--config", "configs/\(name)", "--emulate", "4", "--verify",
                                     "--set", "steps=1", "--set", "warmup_steps=0", "--set", "tokens=64",
                                     "--output", output.path])
            XCTAssertEqual(run.status, 0, "\(name): \(run.stderr)")
            guard run.status == 0 else { continue }
            let json = try CLI.json(at: output)
            XCTAssertEqual(json["schema"] as? String, "epsim.result/1", name)
            let verification = try XCTUnwrap(json["verification"] as? [String: Any], name)
            XCTAssertEqual(verification["passed"] as? Bool, true, "\(name): \(verification)")
            let routing = try XCTUnwrap(json["routing"] as? [String: Any], name)
            XCTAssertEqual(routing["accounting_closes"] as? Bool, true, name)
            // assignments = Σ_r T_r · k · layers · steps, from the resolved config.
            let config = try XCTUnwrap(json["config"] as? [String: Any], name)
            let model = try XCTUnwrap(config["model"] as? [String: Any], name)
            let k = try XCTUnwrap(model["top_k"] as? Int), layers = try XCTUnwrap(model["layers"] as? Int)
            let tokens: Int
            if let perRank = config["tokens"] as? [Int] {
                tokens = perRank.reduce(0, +)
            } else {
                tokens = 4 * (try XCTUnwrap(config["tokens"] as? Int, name))
            }
            XCTAssertEqual(routing["assignments"] as? Int, tokens * k * layers, name)
        }
    }
}
