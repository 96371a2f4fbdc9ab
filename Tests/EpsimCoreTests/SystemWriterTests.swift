import Foundation
import XCTest
import Yams
@testable import EpsimCore

/// `SystemSpec.yamlText`: what it writes parses with Yams, has every key of the loader's
/// schema with the right value, and nothing else.
final class SystemWriterTests: XCTestCase {
    /// A spec whose numbers need every form the writer has: exponents without a point,
    /// many digits, whole numbers, a tiny and a huge value.
    private func sample(rankMap: [Int]? = [0, 0, 1, 1, 1], efficiency: [EfficiencyPoint]? = nil) -> SystemSpec {
        let points = efficiency ?? [
            EfficiencyPoint(rows: 1, hidden: 7168, ffn: 2048, milliseconds: 0.0612345678901234),
            EfficiencyPoint(rows: 4096, hidden: 4096, ffn: 14336, milliseconds: 3.0),
            EfficiencyPoint(rows: 16384, hidden: 2048, ffn: 768, milliseconds: 1e-05),
        ]
        let device = DeviceSpec(bf16TFLOPS: 0.1 + 0.2, gemmEfficiency: 0.55, hbmGBps: 4300,
                                launchMicros: 1.2345678901234567e-7, execution: .graph, efficiency: points)
        return SystemSpec(name: "h200: nvlink #1", devicesPerNode: 8, rankMap: rankMap, device: device,
                          intraNode: LinkSpec(gbps: 160, efficiency: 0.95, latencyMicros: 3e-06),
                          interNode: LinkSpec(gbps: 1.7976931348623157e308, efficiency: 1, latencyMicros: 25.5),
                          allToAll: .hierarchical)
    }

    private func load(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any], text)
    }

    func testEveryKeyParsesBackWithItsValue() throws {
        let spec = sample()
        let root = try load(spec.yamlText(header: ["one", "two\nthree"]))
        XCTAssertEqual(Set(root.keys), ["name", "devices_per_node", "rank_map", "device", "intra_node", "inter_node",
                                        "all_to_all"])
        XCTAssertEqual(root["name"] as? String, "h200: nvlink #1")
        XCTAssertEqual(root["devices_per_node"] as? Int, 8)
        XCTAssertEqual(root["rank_map"] as? [Int], [0, 0, 1, 1, 1])
        XCTAssertEqual(root["all_to_all"] as? String, "hierarchical")

        let device = try XCTUnwrap(root["device"] as? [String: Any])
        XCTAssertEqual(Set(device.keys), ["bf16_tflops", "gemm_efficiency", "hbm_gbps", "launch_us", "execution",
                                          "efficiency"])
        XCTAssertEqual(device["bf16_tflops"] as? Double, spec.device.bf16TFLOPS)
        XCTAssertEqual(device["gemm_efficiency"] as? Double, 0.55)
        XCTAssertEqual(device["hbm_gbps"] as? Double, 4300)
        XCTAssertEqual(device["launch_us"] as? Double, 1.2345678901234567e-7)
        XCTAssertEqual(device["execution"] as? String, "graph")
        let rows = try XCTUnwrap(device["efficiency"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 3)
        for (row, point) in zip(rows, spec.device.efficiency!) {
            XCTAssertEqual(Set(row.keys), ["rows", "hidden", "ffn", "ms"])
            XCTAssertEqual(row["rows"] as? Int, point.rows)
            XCTAssertEqual(row["hidden"] as? Int, point.hidden)
            XCTAssertEqual(row["ffn"] as? Int, point.ffn)
            XCTAssertEqual(row["ms"] as? Double, point.milliseconds)
        }

        for (key, link) in [("intra_node", spec.intraNode), ("inter_node", spec.interNode)] {
            let node = try XCTUnwrap(root[key] as? [String: Any], key)
            XCTAssertEqual(Set(node.keys), ["gbps", "efficiency", "latency_us"], key)
            XCTAssertEqual(node["gbps"] as? Double, link.gbps, key)
            XCTAssertEqual(node["efficiency"] as? Double, link.efficiency, key)
            XCTAssertEqual(node["latency_us"] as? Double, link.latencyMicros, key)
        }
    }

    func testHeaderIsCommentLinesFirst() {
        let text = sample().yamlText(header: ["epsim calibrate", "", "a\nb"])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(Array(lines.prefix(5)), ["# epsim calibrate", "#", "# a", "# b", "name: \"h200: nvlink #1\""])
        XCTAssertTrue(text.hasSuffix("all_to_all: hierarchical\n"))
    }

    func testOptionalKeysAreLeftOut() throws {
        var spec = sample(rankMap: nil)
        spec.device.efficiency = nil
        let root = try load(spec.yamlText(header: []))
        XCTAssertNil(root["rank_map"])
        let device = try XCTUnwrap(root["device"] as? [String: Any])
        XCTAssertNil(device["efficiency"])
        XCTAssertEqual(device.count, 5)
    }

    func testPerRowCostsAndComputeBytesRoundTrip() throws {
        var spec = sample()
        spec.interNode.gbps = 50  // the sample's huge rate is beyond the loader's range
        spec.device.permuteRowNanos = 40.69238841100024
        spec.device.unpermuteRowNanos = 1e-05
        spec.device.computeBytes = 4
        let text = spec.yamlText(header: [])
        let device = try XCTUnwrap(try load(text)["device"] as? [String: Any])
        XCTAssertEqual(device["permute_row_ns"] as? Double, 40.69238841100024)
        XCTAssertEqual(device["unpermute_row_ns"] as? Double, 1e-05)
        XCTAssertEqual(device["compute_bytes"] as? Int, 4)
        let back = try SystemSpec.parse(yaml: text, sourcePath: nil)
        XCTAssertEqual(back.device, spec.device)
        // At their defaults the keys are left out, and read back as the defaults.
        spec.device.permuteRowNanos = 0
        spec.device.unpermuteRowNanos = 0
        spec.device.computeBytes = 2
        let plain = spec.yamlText(header: [])
        XCTAssertFalse(plain.contains("row_ns") || plain.contains("compute_bytes"), plain)
        XCTAssertEqual(try SystemSpec.parse(yaml: plain, sourcePath: nil).device, spec.device)
    }

    func testCopyRatesAndGateGemmEfficiencyRoundTrip() throws {
        var spec = sample()
        spec.interNode.gbps = 50
        spec.device.copyRates = [CopyRatePoint(bytes: 1 << 16, gbps: 225.58123456789),
                                 CopyRatePoint(bytes: 64 << 20, gbps: 18.2)]
        spec.device.gateGemmEfficiency = 0.0765
        let text = spec.yamlText(header: [])
        XCTAssertTrue(text.contains("  copy_rates:\n    - {bytes: 65536, gbps: 225.58123456789}\n"), text)
        XCTAssertTrue(text.contains("  gate_gemm_efficiency: 0.0765\n"), text)
        XCTAssertEqual(try SystemSpec.parse(yaml: text, sourcePath: nil).device, spec.device)
        spec.device.copyRates = nil
        spec.device.gateGemmEfficiency = 1
        let plain = spec.yamlText(header: [])
        XCTAssertFalse(plain.contains("copy_rates") || plain.contains("gate_gemm"), plain)
    }

    func testLinkCostAfterTheExpertsRoundTrip() throws {
        var spec = sample()
        spec.interNode.gbps = 50
        spec.intraNode.afterExperts = LinkCost(gbps: 4.60123456789, latencyMicros: 1e-05)
        let text = spec.yamlText(header: [])
        XCTAssertTrue(text.contains("  after_experts: {gbps: 4.60123456789, latency_us: 1.0e-05}\n"), text)
        let back = try SystemSpec.parse(yaml: text, sourcePath: nil)
        XCTAssertEqual(back.intraNode, spec.intraNode)
        XCTAssertNil(back.interNode.afterExperts)
        spec.intraNode.afterExperts = nil
        XCTAssertFalse(spec.yamlText(header: []).contains("after_experts"))
    }

    func testLinkSweepsRoundTrip() throws {
        var spec = sample()
        spec.interNode.gbps = 50
        spec.intraNode.sweep = [LinkTimePoint(bytes: 8, micros: 6.751234567891), LinkTimePoint(bytes: 4 << 20, micros: 752.7)]
        spec.intraNode.afterExperts = LinkCost(gbps: 4.5, latencyMicros: 6.7, sweep: [LinkTimePoint(bytes: 8, micros: 5.5)])
        let text = spec.yamlText(header: [])
        XCTAssertTrue(text.contains("  sweep:\n    - {bytes: 8, us: 6.751234567891}\n    - {bytes: 4194304, us: 752.7}\n"), text)
        XCTAssertTrue(text.contains("  after_experts:\n    gbps: 4.5\n    latency_us: 6.7\n    sweep:\n      - {bytes: 8, us: 5.5}\n"), text)
        let back = try SystemSpec.parse(yaml: text, sourcePath: nil)
        XCTAssertEqual(back.intraNode, spec.intraNode)
        XCTAssertNil(back.interNode.sweep)
        spec.intraNode.sweep = nil
        spec.intraNode.afterExperts?.sweep = nil
        XCTAssertFalse(spec.yamlText(header: []).contains("sweep"))
    }

    /// Names YAML would read as another type are quoted; plain ones are not.
    func testNamesReadBackAsStrings() throws {
        for name in ["host", "vm-01.cluster", "true", "no", "null", "1.5", "0x10", "-3", "~", "a: b", "say \"hi\"",
                     "back\\slash", "tab\there", "", "#1", "[x]", "ünïcode"] {
            var spec = sample()
            spec.name = name
            let root = try load(spec.yamlText(header: []))
            XCTAssertEqual(root["name"] as? String, name, "name \(name)")
        }
        XCTAssertTrue(sample().yamlText(header: []).hasPrefix("name: \"h200: nvlink #1\"\n"))
        var plain = sample()
        plain.name = "vm-01.cluster"
        XCTAssertTrue(plain.yamlText(header: []).hasPrefix("name: vm-01.cluster\n"))
    }

    /// Doubles from a repeatable generator, across magnitudes, read back bit for bit.
    func testNumbersRoundTrip() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<300 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let mantissa = Double(state >> 11) / Double(1 << 53)
            let exponent = Int((state >> 3) % 60) - 30
            let value = mantissa * pow(10, Double(exponent))
            var spec = sample()
            spec.device.hbmGBps = value
            let device = try XCTUnwrap(try load(spec.yamlText(header: []))["device"] as? [String: Any])
            XCTAssertEqual(device["hbm_gbps"] as? Double, value, "\(value) written as \(SystemFileScalar.number(value))")
        }
        XCTAssertEqual(SystemFileScalar.number(1e-05), "1.0e-05")
        XCTAssertEqual(SystemFileScalar.number(3), "3.0")
        XCTAssertEqual(SystemFileScalar.number(.infinity), ".inf")
    }

    /// Every shipped system file, written back and read again, is the same system (the
    /// model's optional device keys included).
    func testShippedSystemsRoundTrip() throws {
        let dir = repoRoot + "/configs/systems"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }
        XCTAssertGreaterThanOrEqual(files.count, 4)
        for file in files {
            var spec = try SystemSpec.load(path: dir + "/" + file)
            spec.sourcePath = nil
            var back = try SystemSpec.parse(yaml: spec.yamlText(header: ["round trip"]), sourcePath: nil)
            back.sourcePath = nil
            XCTAssertEqual(back, spec, file)
        }
    }
}
