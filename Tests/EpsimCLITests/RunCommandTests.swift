import Foundation
import XCTest

/// End to end: the `epsim` binary on the shipped configs, emulated and under mpirun.
final class RunCommandTests: XCTestCase {
    /// Reads a routing dump and checks that every (step, layer, rank) accounts for T·k
    /// slots; returns the outcome counts.
    private func checkDump(_ url: URL, ranks: Int, tokens: Int, topK: Int, steps: Int,
                           file: StaticString = #filePath, line: UInt = #line) throws -> [String: Int] {
        let text = try String(contentsOf: url, encoding: .utf8)
        var perGroup: [String: Int] = [:]
        var outcomes: [String: Int] = [:]
        var lines = 0
        for raw in text.split(separator: "\n") {
            let object = try XCTUnwrap(
                JSONSerialization.jsonObject(with: Data(raw.utf8)) as? [String: Any], file: file, line: line)
            let key = "\(object["step"]!)/\(object["layer"]!)/\(object["rank"]!)"
            perGroup[key, default: 0] += 1
            outcomes[object["outcome"] as! String, default: 0] += 1
            let final = object["final_expert"] as! Int
            XCTAssertEqual(final == -1, object["outcome"] as! String == "dropped", file: file, line: line)
            lines += 1
        }
        XCTAssertEqual(perGroup.count, steps * ranks, file: file, line: line)
        XCTAssertTrue(perGroup.values.allSatisfy { $0 == tokens * topK }, file: file, line: line)
        XCTAssertEqual(lines, steps * ranks * tokens * topK, file: file, line: line)
        return outcomes
    }

    func testEmulatedDefaultRunWritesDumpAndResult() throws {
        let dir = try CLI.temporaryDirectory()
        let dump = dir.appendingPathComponent("r.jsonl"), result = dir.appendingPathComponent("r.json")
        let run = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "4",
                                 "--routing-out", dump.path, "--output", result.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("accounting: 40960 assignments = 40960 accepted + 0 rerouted + 0 dropped on every rank: yes"),
                      run.stdout)
        let outcomes = try checkDump(dump, ranks: 4, tokens: 512, topK: 2, steps: 10)
        let json = try CLI.json(at: result)
        XCTAssertEqual(json["schema"] as? String, "epsim.result/1")
        let routing = try XCTUnwrap(json["routing"] as? [String: Any])
        XCTAssertEqual(routing["assignments"] as? Int, 4 * 512 * 2 * 10)
        XCTAssertEqual(routing["accepted"] as? Int, outcomes["accepted"] ?? 0)
        XCTAssertEqual(routing["rerouted"] as? Int, outcomes["rerouted"] ?? 0)
        XCTAssertEqual(routing["dropped"] as? Int, outcomes["dropped"] ?? 0)
        let load = try XCTUnwrap(routing["expert_load"] as? [Int])
        XCTAssertEqual(load.count, 8)
        XCTAssertEqual(load.reduce(0, +), (outcomes["accepted"] ?? 0) + (outcomes["rerouted"] ?? 0))
        XCTAssertNotNil(json["config"] as? [String: Any])
    }

    /// The same layout under mpirun with 4 processes decides exactly what 4 emulated
    /// ranks decide: the dumps are identical line for line.
    func testMPIRunMatchesEmulatedRunExactly() throws {
        let dir = try CLI.temporaryDirectory()
        let emulated = dir.appendingPathComponent("emulated.jsonl"), mpi = dir.appendingPathComponent("mpi.jsonl")
        let overrides = ["--set", "steps=3", "--set", "overflow.policy=reroute",
                         "--set", "capacity.scope=global", "--set", "capacity.factor=1.0"]
        let a = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4",
                               "--routing-out", emulated.path] + overrides)
        XCTAssertEqual(a.status, 0, a.stderr)
        let b = try CLI.mpirun(4, ["run", "--config", "configs/skewed.yaml", "--routing-out", mpi.path] + overrides)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stdout.contains("mpi, 4 ranks"), b.stdout)
        let outcomes = try checkDump(mpi, ranks: 4, tokens: 512, topK: 2, steps: 3)
        XCTAssertGreaterThan(outcomes["rerouted"] ?? 0, 0)
        XCTAssertEqual(try Data(contentsOf: emulated), try Data(contentsOf: mpi))
    }

    /// Zipf traffic at capacity factor 1.0 on 4 ranks: rerouting drops strictly fewer
    /// assignments than dropping, and says how many moved.
    func testRerouteDropsFewerThanDropOnSkewedTraffic() throws {
        let dir = try CLI.temporaryDirectory()
        var dropped: [String: Int] = [:]
        var moved: [String: Int] = [:]
        for policy in ["drop", "reroute"] {
            let result = dir.appendingPathComponent("\(policy).json")
            let run = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4",
                                     "--set", "capacity.factor=1.0", "--set", "overflow.policy=\(policy)",
                                     "--output", result.path])
            XCTAssertEqual(run.status, 0, run.stderr)
            let routing = try XCTUnwrap(try CLI.json(at: result)["routing"] as? [String: Any])
            dropped[policy] = routing["dropped"] as? Int
            moved[policy] = routing["rerouted"] as? Int
            XCTAssertTrue(run.stdout.contains("+ \(moved[policy]!) rerouted + \(dropped[policy]!) dropped on every rank: yes"),
                          run.stdout)
        }
        XCTAssertGreaterThan(dropped["drop"]!, 0)
        XCTAssertLessThan(dropped["reroute"]!, dropped["drop"]!)
        XCTAssertEqual(moved["drop"], 0)
        XCTAssertGreaterThan(moved["reroute"]!, 0)
    }
}
