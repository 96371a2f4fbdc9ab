import Foundation
import XCTest

/// Every shipped config in configs/ loads, runs one step on 4 emulated ranks, verifies
/// against the single-process reference and accounts for every assignment. A config
/// that fails to load, expects another world size, fails verification or loses
/// assignments fails this test, naming the file.
final class ConfigFilesTests: XCTestCase {
    /// The layouts README.md documents.
    static let documented = ["default", "skewed", "switch", "mixtral", "deepseek", "dbrx", "replicated", "eplb"]

    /// The `*.yaml` file names in configs/, sorted.
    private func configFiles() throws -> [String] {
        let dir = CLI.root.appendingPathComponent("configs")
        return try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
    }

    func testTheDocumentedLayoutsAreShipped() throws {
        let names = Set(try configFiles())
        for expected in Self.documented {
            XCTAssertTrue(names.contains("\(expected).yaml"), "configs/\(expected).yaml is missing")
        }
    }

    func testEveryConfigRunsAndVerifies() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try configFiles()
        XCTAssertGreaterThanOrEqual(files.count, Self.documented.count)
        for name in files {
            let output = dir.appendingPathComponent("\(name).json")
            // The debug build verifies in double-precision loops (the largest shipped
            // layouts take about a minute each at full size), so 64 tokens per rank; one
            // step without warm-up also catches buffers not yet sized by an earlier step.
            let run = try CLI.epsim(["run", "--config", "configs/\(name)", "--emulate", "4", "--verify",
                                     "--output", output.path, "--set", "steps=1", "--set", "warmup_steps=0",
                                     "--set", "tokens=64"],
                                    timeout: 300)
            XCTAssertEqual(run.status, 0, "configs/\(name): \(run.stderr)")
            guard run.status == 0 else { continue }
            try checkResult(at: output, name: "configs/\(name)")
        }
    }

    /// Checks one result file: schema, verification, accounting, and
    /// assignments = Σ_r T_r · k · layers · steps from the resolved config it records.
    private func checkResult(at url: URL, name: String,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let json = try CLI.json(at: url)
        XCTAssertEqual(json["schema"] as? String, "epsim.result/1", name, file: file, line: line)
        let verification = try XCTUnwrap(json["verification"] as? [String: Any], name, file: file, line: line)
        XCTAssertEqual(verification["ran"] as? Bool, true, name, file: file, line: line)
        XCTAssertEqual(verification["passed"] as? Bool, true, "\(name): \(verification)", file: file, line: line)
        let routing = try XCTUnwrap(json["routing"] as? [String: Any], name, file: file, line: line)
        XCTAssertEqual(routing["accounting_closes"] as? Bool, true, name, file: file, line: line)

        let config = try XCTUnwrap(json["config"] as? [String: Any], name, file: file, line: line)
        let model = try XCTUnwrap(config["model"] as? [String: Any], name, file: file, line: line)
        let topK = try XCTUnwrap(model["top_k"] as? Int, name, file: file, line: line)
        let layers = try XCTUnwrap(model["layers"] as? Int, name, file: file, line: line)
        let steps = try XCTUnwrap(config["steps"] as? Int, name, file: file, line: line)
        XCTAssertEqual(steps, 1, "\(name): --set steps=1 not applied", file: file, line: line)
        let tokens: Int
        if let perRank = config["tokens"] as? [Int] {
            XCTAssertEqual(perRank.count, 4, "\(name): one token count per rank", file: file, line: line)
            tokens = perRank.reduce(0, +)
        } else {
            // One count for every rank; the world size is the run's (--emulate 4).
            let perRank = try XCTUnwrap(config["tokens"] as? Int, name, file: file, line: line)
            let environment = try XCTUnwrap(json["environment"] as? [String: Any], name, file: file, line: line)
            let ranks = try XCTUnwrap(environment["ranks"] as? Int, name, file: file, line: line)
            XCTAssertEqual(ranks, 4, name, file: file, line: line)
            tokens = ranks * perRank
        }
        let expected = tokens * topK * layers * steps
        XCTAssertGreaterThan(expected, 0, "\(name): no assignments to check", file: file, line: line)
        XCTAssertEqual(routing["assignments"] as? Int, expected, name, file: file, line: line)
    }
}
