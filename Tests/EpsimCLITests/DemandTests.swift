import Foundation
import XCTest

/// `routing.demand`, `routing.per_layer[]` and `routing.zero_drop_capacity_factor`:
/// the counts close against the load, and the factor, fed back to the real decider,
/// drops nothing while a factor one assignment lower drops.
final class DemandTests: XCTestCase {
    /// configs/skewed.yaml (Zipf, cf 1.0, 4 ranks × 512 tokens, 8 experts top-2), small.
    private let base = ["run", "--config", "configs/skewed.yaml", "--emulate", "4",
                        "--set", "model.hidden=32", "--set", "model.ffn=64",
                        "--set", "steps=3", "--set", "warmup_steps=0"]

    private func run(_ extra: [String], file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        let out = try CLI.temporaryDirectory().appendingPathComponent("r.json")
        let r = try CLI.epsim(base + extra + ["--output", out.path], file: file, line: line)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return try XCTUnwrap(try CLI.json(at: out)["routing"] as? [String: Any], file: file, line: line)
    }

    private func ints(_ v: Any?) throws -> [Int] { try XCTUnwrap(v as? [Int]) }

    /// Per layer and expert: demand = accepted + rerouted_out + dropped; over layers,
    /// accepted + rerouted_in = the expert load; the sums match the routing counters.
    private func checkCounts(_ routing: [String: Any], layers: Int) throws {
        let perLayer = try XCTUnwrap(routing["per_layer"] as? [[String: Any]])
        XCTAssertEqual(perLayer.count, layers)
        var demand = [Int](repeating: 0, count: 8), load = demand
        var rerouted = 0, rerouted2 = 0, dropped = 0, accepted = 0
        for (l, layer) in perLayer.enumerated() {
            XCTAssertEqual(layer["layer"] as? Int, l)
            let d = try ints(layer["demand"]), a = try ints(layer["accepted"]), i = try ints(layer["rerouted_in"])
            let o = try ints(layer["rerouted_out"]), x = try ints(layer["dropped"])
            for e in 0..<8 {
                XCTAssertEqual(d[e], a[e] + o[e] + x[e], "layer \(l) expert \(e)")
                demand[e] += d[e]
                load[e] += a[e] + i[e]
            }
            rerouted += i.reduce(0, +)
            rerouted2 += o.reduce(0, +)
            dropped += x.reduce(0, +)
            accepted += a.reduce(0, +)
        }
        XCTAssertEqual(try ints(routing["demand"]), demand)
        XCTAssertEqual(try ints(routing["expert_load"]), load)
        XCTAssertEqual(routing["rerouted"] as? Int, rerouted)
        XCTAssertEqual(routing["rerouted"] as? Int, rerouted2)
        XCTAssertEqual(routing["dropped"] as? Int, dropped)
        XCTAssertEqual(routing["accepted"] as? Int, accepted)
        XCTAssertEqual(routing["assignments"] as? Int, demand.reduce(0, +))
    }

    func testDemandClosesWithRerouteAndDropOverLayers() throws {
        for policy in ["reroute", "drop"] {
            let routing = try run(["--set", "overflow.policy=\(policy)", "--set", "model.layers=2"])
            try checkCounts(routing, layers: 2)
            // The hot expert 0 asks for more than it holds: demand shows it, the load does not.
            let demand = try ints(routing["demand"]), load = try ints(routing["expert_load"])
            XCTAssertGreaterThan(demand[0], load[0], policy)
            XCTAssertGreaterThan(routing[policy == "drop" ? "dropped" : "rerouted"] as? Int ?? 0, 0, policy)
        }
    }

    /// Dropless: demand is the load, and the factor is still reported (what a cf would need).
    func testDroplessReportsTheFactorItWouldNeed() throws {
        let routing = try run(["--set", "capacity.factor=none"])
        try checkCounts(routing, layers: 1)
        XCTAssertEqual(try ints(routing["demand"]), try ints(routing["expert_load"]))
        let cf = try XCTUnwrap(routing["zero_drop_capacity_factor"] as? Double)
        XCTAssertGreaterThan(cf, 1.0)  // Zipf 1.2 over 8 experts: expert 0 is hot
        let again = try run(["--set", "capacity.factor=\(cf)"])
        XCTAssertEqual(again["dropped"] as? Int, 0)
        XCTAssertEqual(again["zero_drop_capacity_factor"] as? Double, cf)
    }

    /// The reported factor against the real decider, for `local` and `global` scope and
    /// both roundings: at cf nothing drops (nothing overflows its chosen expert); at
    /// cf − ½ · E / (T · k) (the same C) neither; at cf − E / (T · k) (one assignment
    /// less of room, per rank or for the world) something drops.
    func testTheFactorDropsNothingAndOneLessDrops() throws {
        for (scope, rounding) in [("local", "exact"), ("local", "float32"), ("global", "exact")] {
            let keys = ["--set", "capacity.scope=\(scope)", "--set", "capacity.rounding=\(rounding)"]
            let first = try run(keys)
            XCTAssertGreaterThan(first["dropped"] as? Int ?? 0, 0, "skewed.yaml drops at cf 1")
            let cf = try XCTUnwrap(first["zero_drop_capacity_factor"] as? Double)
            let perStep = try XCTUnwrap(first["zero_drop_capacity_factor_per_step"] as? [Double])
            XCTAssertEqual(perStep.count, 3)
            XCTAssertEqual(perStep.max(), cf)
            let layer = try XCTUnwrap((first["per_layer"] as? [[String: Any]])?.first)
            XCTAssertEqual(layer["zero_drop_capacity_factor"] as? Double, cf)
            // One assignment of room: E / (T · k), T per rank or for the world.
            let unit = 8.0 / (Double(scope == "global" ? 4 * 512 : 512) * 2)
            for (factor, drops) in [(cf, false), (cf - unit / 2, false), ((cf - unit) * (1 - 1e-9), true)] {
                let r = try run(keys + ["--set", "capacity.factor=\(factor)"])
                let dropped = r["dropped"] as? Int ?? -1
                XCTAssertEqual(dropped > 0, drops, "\(scope) \(rounding) cf \(factor) (zero-drop \(cf)): \(dropped) dropped")
                XCTAssertGreaterThanOrEqual(dropped, 0)
                // The demand does not depend on the factor (one layer: inputs are the tokens).
                XCTAssertEqual(try ints(r["demand"]), try ints(first["demand"]))
            }
        }
    }

    func testMinCapacityAndValue() throws {
        let covered = try run(["--set", "capacity.min_capacity=2048"])
        XCTAssertEqual(covered["zero_drop_capacity_factor"] as? Double, 0)
        XCTAssertEqual(covered["dropped"] as? Int, 0)
        // capacity.value beside the file's factor is an error: a copy of the file with value instead.
        let dir = try CLI.temporaryDirectory(), yaml = dir.appendingPathComponent("value.yaml")
        let text = try String(contentsOfFile: "configs/skewed.yaml", encoding: .utf8)
        XCTAssertTrue(text.contains("factor: 1.0 "))
        try text.replacingOccurrences(of: "factor: 1.0 ", with: "value: 100 ").write(to: yaml, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("r.json")
        let r = try CLI.epsim(["run", "--config", yaml.path] + base.dropFirst(3) + ["--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("zero-drop capacity factor: n/a (capacity.value sets C)"), r.stdout)
        let value = try XCTUnwrap(try CLI.json(at: out)["routing"] as? [String: Any])
        XCTAssertTrue(value["zero_drop_capacity_factor_per_step"] is NSNull)
        XCTAssertTrue(value["zero_drop_capacity_factor"] is NSNull)
        XCTAssertTrue(((value["per_layer"] as? [[String: Any]])?.first?["zero_drop_capacity_factor"]) is NSNull)
        XCTAssertEqual(try ints(value["demand"]).reduce(0, +), 4 * 512 * 2 * 3)
    }

    /// Under mpirun the same figures, gathered from the ranks.
    func testMPIMatchesEmulated() throws {
        let dir = try CLI.temporaryDirectory()
        let args = Array(base.dropFirst(0).filter { $0 != "--emulate" && $0 != "4" })
            + ["--set", "overflow.policy=reroute", "--set", "model.layers=2"]
        let emulated = try run(["--set", "overflow.policy=reroute", "--set", "model.layers=2"])
        let out = dir.appendingPathComponent("mpi.json")
        let r = try CLI.mpirun(4, args + ["--output", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("expert demand: "), r.stdout)
        let mpi = try XCTUnwrap(try CLI.json(at: out)["routing"] as? [String: Any])
        try checkCounts(mpi, layers: 2)
        for key in ["demand", "expert_load"] { XCTAssertEqual(try ints(mpi[key]), try ints(emulated[key]), key) }
        XCTAssertEqual(mpi["zero_drop_capacity_factor"] as? Double, emulated["zero_drop_capacity_factor"] as? Double)
        XCTAssertEqual((mpi["per_layer"] as? [[String: Any]])?.count, 2)
        for l in 0..<2 {
            let a = try XCTUnwrap((mpi["per_layer"] as? [[String: Any]])?[l])
            let b = try XCTUnwrap((emulated["per_layer"] as? [[String: Any]])?[l])
            for key in ["demand", "accepted", "rerouted_in", "rerouted_out", "dropped"] {
                XCTAssertEqual(try ints(a[key]), try ints(b[key]), "layer \(l) \(key)")
            }
            XCTAssertEqual(a["zero_drop_capacity_factor_per_step"] as? [Double], b["zero_drop_capacity_factor_per_step"] as? [Double])
        }
    }
}
