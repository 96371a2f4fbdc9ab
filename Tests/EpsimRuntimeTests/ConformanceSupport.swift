import XCTest
import EpsimConformance
import EpsimCore
@testable import EpsimRuntime

/// Runs every check of a conformance suite on `ranks` emulated ranks and returns one
/// line per failing check ("P=4 <check>: <error>"); empty when all pass.
func emulatedFailures(_ checks: [ConformanceCheck], ranks: Int) -> [String] {
    checks.compactMap { check in
        do {
            _ = try EmulatedWorld.run(ranks: ranks) { t in try check.run(t) }
            return nil
        } catch {
            return "P=\(ranks) \(check.name): \(error)"
        }
    }
}

/// One simulation of `config` on `ranks` emulated ranks; rank 0's result.
func emulatedResult(_ config: SimConfig, ranks: Int, settings: Simulation.Settings = .init()) throws -> RunResult {
    final class Box: @unchecked Sendable { var result: RunResult? }
    let box = Box()
    _ = try EmulatedWorld.run(ranks: ranks) { t in
        if let r = try Simulation.execute(config, transport: t, settings: settings) { box.result = r }
    }
    return try XCTUnwrap(box.result)
}

/// A small target system for tests that need modeled figures but no particular device:
/// 100 TFLOP/s, 1000 GB/s, 5 µs launches, loop experts, 100 GB/s / 2 µs within a node of
/// `devicesPerNode`, 25 GB/s / 5 µs between nodes, flat all-to-all.
func smallSystem(devicesPerNode: Int = 2) -> SystemSpec {
    SystemSpec(name: "test", devicesPerNode: devicesPerNode,
               device: DeviceSpec(bf16TFLOPS: 100, hbmGBps: 1000, launchMicros: 5, execution: .loop),
               intraNode: LinkSpec(gbps: 100, latencyMicros: 2), interNode: LinkSpec(gbps: 25, latencyMicros: 5),
               allToAll: .flat)
}
