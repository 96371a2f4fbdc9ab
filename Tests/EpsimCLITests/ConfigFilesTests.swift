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

    /// Every config under configs/ (configs/systems/ holds systems, not layouts) passes
    /// `epsim validate` at its own `ranks:`, or at launch/run's default of 4 without one:
    /// its keys, its placement and the memory estimate on this machine.
    func testEveryConfigValidatesAtItsRankCount() throws {
        let configs = CLI.root.appendingPathComponent("configs")
        var paths: [String] = []
        for sub in ["", "models", "scale"] {
            let dir = sub.isEmpty ? configs : configs.appendingPathComponent(sub)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() where name.hasSuffix(".yaml") {
                paths.append(sub.isEmpty ? "configs/\(name)" : "configs/\(sub)/\(name)")
            }
        }
        XCTAssertGreaterThanOrEqual(paths.count, Self.documented.count + Self.models.count + 2)
        for path in paths {
            let text = try String(contentsOf: CLI.root.appendingPathComponent(path), encoding: .utf8)
            let ranks = text.split(separator: "\n").first { $0.hasPrefix("ranks:") }
                .flatMap { Int($0.dropFirst(6).split(separator: "#")[0].trimmingCharacters(in: .whitespaces)) } ?? 4
            let run = try CLI.epsim(["validate", "--config", path, "--emulate", "\(ranks)"], timeout: 120)
            XCTAssertEqual(run.status, 0, "\(path) at \(ranks) ranks: \(run.stderr)")
            XCTAssertTrue(run.stdout.contains("memory estimate:"), path)
        }
    }

    /// The real models' shapes in configs/models/, as their Hugging Face config.json
    /// files give them (each file cites its source): hidden, moe ffn, experts, top-k,
    /// shared experts, router groups and groups per token, score.
    static let models: [String: (hidden: Int, ffn: Int, experts: Int, topK: Int, shared: Int,
                                 groups: Int, groupsPerToken: Int, score: String)] = [
        "deepseek-v3": (7168, 2048, 256, 8, 1, 8, 4, "sigmoid"),
        "kimi-k2": (7168, 2048, 384, 8, 1, 1, 1, "sigmoid"),
        "qwen3-235b-a22b": (4096, 1536, 128, 8, 0, 1, 1, "softmax"),
        "qwen3-30b-a3b": (2048, 768, 128, 8, 0, 1, 1, "softmax"),
        "mixtral-8x7b": (4096, 14336, 8, 2, 0, 1, 1, "softmax"),
        "mixtral-8x22b": (6144, 16384, 8, 2, 0, 1, 1, "softmax"),
        "gpt-oss-120b": (2880, 2880, 128, 4, 0, 1, 1, "softmax"),
    ]

    /// Every file in configs/models/ is one of `models`, carries its shape, cites its
    /// source, fits this machine's memory at 8 emulated ranks (`epsim validate`), and
    /// runs one verified step on 4 and on 8 ranks (it fixes no rank count).
    func testEveryModelConfigHasItsShapeAndRuns() throws {
        let dir = CLI.root.appendingPathComponent("configs/models")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertEqual(Set(files.map { String($0.dropLast(5)) }), Set(Self.models.keys))
        let out = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        for name in files {
            let path = "configs/models/\(name)"
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            XCTAssertTrue(text.contains("https://huggingface.co/") && text.contains("/config.json"), "\(path) cites no config.json")
            XCTAssertFalse(text.contains("\nranks:"), "\(path) fixes a rank count")
            let validate = try CLI.epsim(["validate", "--config", path, "--emulate", "8"], timeout: 120)
            XCTAssertEqual(validate.status, 0, "\(path): \(validate.stderr)")
            for ranks in [4, 8] {
                let output = out.appendingPathComponent("\(name)-\(ranks).json")
                let run = try CLI.epsim(["run", "--config", path, "--emulate", "\(ranks)", "--verify",
                                         "--output", output.path, "--set", "steps=1", "--set", "warmup_steps=0",
                                         "--set", "tokens=32"], timeout: 300)
                XCTAssertEqual(run.status, 0, "\(path) on \(ranks): \(run.stderr)")
                guard run.status == 0 else { continue }
                let json = try CLI.json(at: output)
                let verification = json["verification"] as? [String: Any]
                XCTAssertEqual(verification?["passed"] as? Bool, true, "\(path) on \(ranks)")
                let config = try XCTUnwrap(json["config"] as? [String: Any], path)
                let model = try XCTUnwrap(config["model"] as? [String: Any], path)
                let router = try XCTUnwrap(config["router"] as? [String: Any], path)
                let expected = try XCTUnwrap(Self.models[String(name.dropLast(5))])
                XCTAssertEqual(model["hidden"] as? Int, expected.hidden, path)
                XCTAssertEqual(model["ffn"] as? Int, expected.ffn, path)
                XCTAssertEqual(model["experts"] as? Int, expected.experts, path)
                XCTAssertEqual(model["top_k"] as? Int, expected.topK, path)
                XCTAssertEqual(model["shared_experts"] as? Int, expected.shared, path)
                XCTAssertEqual(router["groups"] as? Int, expected.groups, path)
                XCTAssertEqual(router["groups_per_token"] as? Int, expected.groupsPerToken, path)
                XCTAssertEqual(router["score"] as? String, expected.score, path)
                let environment = json["environment"] as? [String: Any]
                XCTAssertEqual(environment?["ranks"] as? Int, ranks, path)
            }
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
