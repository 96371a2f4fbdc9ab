import XCTest
@testable import EpsimCore

/// The repository root, from this file's path (Tests/EpsimCoreTests/...).
let repoRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

final class SystemLoaderTests: XCTestCase {
    let minimal = """
        name: t
        devices_per_node: 8
        device: {bf16_tflops: 100, hbm_gbps: 1000, launch_us: 5, execution: graph}
        intra_node: {gbps: 100, latency_us: 1}
        inter_node: {gbps: 10, efficiency: 0.5, latency_us: 3}
        """

    func message(_ yaml: String) -> String {
        do {
            _ = try SystemSpec.parse(yaml: yaml, sourcePath: "s.yaml")
            XCTFail("expected an error for: \(yaml)")
            return ""
        } catch {
            XCTAssertFalse("\(error)".contains("\n"))
            return "\(error)"
        }
    }

    func testEveryShippedSystemLoads() throws {
        let dir = repoRoot + "/configs/systems"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertTrue(files.contains("h200-8x.yaml") && files.contains("h800-8x-ib400.yaml")
                      && files.contains("h100-8x-ib400.yaml") && files.contains("a100-8x-ib200.yaml"), "\(files)")
        for f in files {
            let s = try SystemSpec.load(path: dir + "/" + f)
            XCTAssertEqual(s.name + ".yaml", f)
            XCTAssertEqual(s.sourcePath, dir + "/" + f)
        }
        let h800 = try SystemSpec.load(path: dir + "/h800-8x-ib400.yaml")
        XCTAssertEqual(h800.allToAll, .hierarchical)
        XCTAssertEqual(h800.intraNode.gbps, 200)
        XCTAssertEqual(h800.interNode.gbps, 50)
        let h200 = try SystemSpec.load(path: dir + "/h200-8x.yaml")
        XCTAssertEqual(h200.device.efficiency?.count, 19)
        XCTAssertEqual(h200.device.bf16TFLOPS, 790)
    }

    func testMinimalFileAndDefaults() throws {
        let s = try SystemSpec.parse(yaml: minimal, sourcePath: "s.yaml")
        XCTAssertEqual(s.devicesPerNode, 8)
        XCTAssertEqual(s.device.gemmEfficiency, 1)
        XCTAssertEqual(s.device.execution, .graph)
        XCTAssertEqual(s.intraNode.efficiency, 1)
        XCTAssertEqual(s.interNode.efficiency, 0.5)
        XCTAssertEqual(s.allToAll, .flat)
        XCTAssertNil(s.rankMap)
        XCTAssertEqual(s.node(ofRank: 9), 1)
    }

    func testErrorsNameTheKeyAndValue() {
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "name: t\n", with: "")), "s.yaml: name: missing (required)")
        XCTAssertEqual(message(minimal + "\nall_to_al: flat"), "s.yaml: all_to_al: unknown key 'all_to_al' (did you mean 'all_to_all'?)")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "gbps: 100,", with: "gbps: 0,")),
                       "s.yaml: intra_node.gbps: expected a number in (0, 1e5], got '0'")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "efficiency: 0.5", with: "efficiency: 1.5")),
                       "s.yaml: inter_node.efficiency: expected a number in (0, 1], got '1.5'")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "latency_us: 3", with: "latency_us: -1")),
                       "s.yaml: inter_node.latency_us: expected a number in [0, 1e6], got '-1'")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "devices_per_node: 8", with: "devices_per_node: 0")),
                       "s.yaml: devices_per_node: expected an integer in [1, 1000000], got '0'")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "execution: graph", with: "execution: graf")),
                       "s.yaml: device.execution: expected one of loop, graph, grouped, got 'graf' (did you mean 'graph'?)")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "bf16_tflops: 100,", with: "")),
                       "s.yaml: device.bf16_tflops: missing (required)")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "devices_per_node: 8", with: "devices_per_node: 1") + "\nrank_map: [0, 0]"),
                       "s.yaml: rank_map: node 0 holds 2 ranks, more than devices_per_node 1")
    }

    func testPerRowCostsAndComputeBytes() throws {
        let defaults = try SystemSpec.parse(yaml: minimal, sourcePath: nil).device
        XCTAssertEqual(defaults.permuteRowNanos, 0)
        XCTAssertEqual(defaults.unpermuteRowNanos, 0)
        XCTAssertEqual(defaults.computeBytes, 2)
        func device(_ keys: String) -> String {
            minimal.replacingOccurrences(of: "execution: graph}", with: "execution: graph, \(keys)}")
        }
        let d = try SystemSpec.parse(yaml: device("permute_row_ns: 41.5, unpermute_row_ns: 1e6, compute_bytes: 4"),
                                     sourcePath: nil).device
        XCTAssertEqual(d.permuteRowNanos, 41.5)
        XCTAssertEqual(d.unpermuteRowNanos, 1e6)
        XCTAssertEqual(d.computeBytes, 4)
        XCTAssertEqual(message(device("permute_row_ns: -1")),
                       "s.yaml: device.permute_row_ns: expected a number in [0, 1e6], got '-1'")
        XCTAssertEqual(message(device("unpermute_row_ns: 2e6")),
                       "s.yaml: device.unpermute_row_ns: expected a number in [0, 1e6], got '2e6'")
        XCTAssertEqual(message(device("unpermute_row_ns: .nan")),
                       "s.yaml: device.unpermute_row_ns: expected a number in [0, 1e6], got '.nan'")
        XCTAssertEqual(message(device("compute_bytes: 0")),
                       "s.yaml: device.compute_bytes: expected an integer in [1, 8], got '0'")
        XCTAssertEqual(message(device("compute_bytes: 2.5")),
                       "s.yaml: device.compute_bytes: expected an integer in [1, 8], got '2.5'")
        XCTAssertEqual(message(device("permute_row: 3")),
                       "s.yaml: device.permute_row: unknown key 'permute_row' (did you mean 'permute_row_ns'?)")
    }

    /// A link's measured `sweep` (and its `after_experts` one): read in any order, kept
    /// sorted by bytes; each bad point is named with its index.
    func testLinkSweep() throws {
        func intra(_ keys: String) -> String {
            minimal.replacingOccurrences(of: "intra_node: {gbps: 100, latency_us: 1}",
                                         with: "intra_node: {gbps: 100, latency_us: 1, \(keys)}")
        }
        XCTAssertNil(try SystemSpec.parse(yaml: minimal, sourcePath: nil).intraNode.sweep)
        let s = try SystemSpec.parse(yaml: intra("sweep: [{bytes: 4096, us: 24.5}, {bytes: 8, us: 6}], "
                                                 + "after_experts: {gbps: 4, latency_us: 7, sweep: [{bytes: 8, us: 5.5}]}"),
                                     sourcePath: nil)
        XCTAssertEqual(s.intraNode.sweep, [LinkTimePoint(bytes: 8, micros: 6), LinkTimePoint(bytes: 4096, micros: 24.5)])
        XCTAssertEqual(s.intraNode.afterExperts?.sweep, [LinkTimePoint(bytes: 8, micros: 5.5)])
        XCTAssertEqual(s.intraNode.state(for: .combine).sweep, [LinkTimePoint(bytes: 8, micros: 5.5)])
        XCTAssertEqual(s.intraNode.state(for: .dispatch).sweep, s.intraNode.sweep)
        XCTAssertNil(s.interNode.sweep)
        XCTAssertEqual(message(intra("sweep: []")),
                       "s.yaml: intra_node.sweep: expected at least one point {bytes, us}, got an empty list")
        XCTAssertEqual(message(intra("sweep: [{bytes: 8, us: 6}, {bytes: 0, us: 6}]")),
                       "s.yaml: intra_node.sweep[1].bytes: expected an integer in [1, 1125899906842624], got '0'")
        XCTAssertEqual(message(intra("sweep: [{bytes: 8, us: 0}]")),
                       "s.yaml: intra_node.sweep[0].us: expected a number in (0, 1e9], got '0'")
        XCTAssertEqual(message(intra("sweep: [{bytes: 8, us: 6}, {bytes: 8, us: 7}]")),
                       "s.yaml: intra_node.sweep[1]: a second point for bytes 8")
        XCTAssertEqual(message(intra("sweep: [{bytes: 8}]")), "s.yaml: intra_node.sweep[0].us: missing (required)")
        XCTAssertEqual(message(intra("after_experts: {gbps: 4, latency_us: 7, sweep: [{bytes: 8, us: 6, gbps: 1}]}")),
                       "s.yaml: intra_node.after_experts.sweep[0].gbps: unknown key 'gbps'")
        XCTAssertTrue(message(intra("sweep: 3")).hasPrefix("s.yaml: intra_node.sweep: expected a list"), message(intra("sweep: 3")))
    }

    func testLinkCostAfterTheExperts() throws {
        XCTAssertNil(try SystemSpec.parse(yaml: minimal, sourcePath: nil).intraNode.afterExperts)
        func intra(_ keys: String) -> String {
            minimal.replacingOccurrences(of: "intra_node: {gbps: 100, latency_us: 1}",
                                         with: "intra_node: {gbps: 100, latency_us: 1, \(keys)}")
        }
        let s = try SystemSpec.parse(yaml: intra("after_experts: {gbps: 4.5, latency_us: 12}"), sourcePath: nil)
        XCTAssertEqual(s.intraNode.afterExperts, LinkCost(gbps: 4.5, latencyMicros: 12))
        XCTAssertNil(s.interNode.afterExperts)
        XCTAssertEqual(s.intraNode.state(for: .combine), LinkSpec(gbps: 4.5, latencyMicros: 12))
        XCTAssertEqual(s.intraNode.state(for: .dispatch), s.intraNode)
        XCTAssertEqual(message(intra("after_experts: {gbps: 0, latency_us: 12}")),
                       "s.yaml: intra_node.after_experts.gbps: expected a number in (0, 1e5], got '0'")
        XCTAssertEqual(message(intra("after_experts: {gbps: 4, latency_us: -1}")),
                       "s.yaml: intra_node.after_experts.latency_us: expected a number in [0, 1e6], got '-1'")
        XCTAssertEqual(message(intra("after_experts: {gbps: 4}")),
                       "s.yaml: intra_node.after_experts.latency_us: missing (required)")
        XCTAssertEqual(message(intra("after_experts: {gbps: 4, latency_us: 1, efficiency: 0.5}")),
                       "s.yaml: intra_node.after_experts.efficiency: unknown key 'efficiency'")
        XCTAssertTrue(message(intra("after_experts: 4")).hasPrefix("s.yaml: intra_node.after_experts: expected a mapping"),
                      message(intra("after_experts: 4")))
        let inter = minimal.replacingOccurrences(of: "inter_node: {gbps: 10, efficiency: 0.5, latency_us: 3}",
                                                 with: "inter_node: {gbps: 10, efficiency: 0.5, latency_us: 3, "
                                                     + "after_experts: {gbps: 8, latency_us: 5}}")
        let both = try SystemSpec.parse(yaml: inter, sourcePath: nil)
        XCTAssertEqual(both.interNode.afterExperts, LinkCost(gbps: 8, latencyMicros: 5))
        XCTAssertEqual(both.interNode.state(for: .combine), LinkSpec(gbps: 8, efficiency: 0.5, latencyMicros: 5))
        XCTAssertNil(both.intraNode.afterExperts)
        XCTAssertEqual(message(intra("after_expert: {gbps: 4, latency_us: 1}")),
                       "s.yaml: intra_node.after_expert: unknown key 'after_expert' (did you mean 'after_experts'?)")
    }

    func testCopyRatesAndGateGemmEfficiency() throws {
        let defaults = try SystemSpec.parse(yaml: minimal, sourcePath: nil).device
        XCTAssertNil(defaults.copyRates)
        XCTAssertEqual(defaults.gateGemmEfficiency, 1)
        func device(_ keys: String) -> String {
            minimal.replacingOccurrences(of: "execution: graph}", with: "execution: graph, \(keys)}")
        }
        let d = try SystemSpec.parse(yaml: device("gate_gemm_efficiency: 0.0765, copy_rates: "
                                                  + "[{bytes: 65536, gbps: 250}, {bytes: 67108864, gbps: 20.5}]"),
                                     sourcePath: nil).device
        XCTAssertEqual(d.gateGemmEfficiency, 0.0765)
        XCTAssertEqual(d.copyRates, [CopyRatePoint(bytes: 65536, gbps: 250), CopyRatePoint(bytes: 67108864, gbps: 20.5)])
        XCTAssertEqual(message(device("gate_gemm_efficiency: 0")),
                       "s.yaml: device.gate_gemm_efficiency: expected a number in (0, 1], got '0'")
        XCTAssertEqual(message(device("copy_rates: [{bytes: 0, gbps: 1}]")),
                       "s.yaml: device.copy_rates[0].bytes: expected an integer in [1, 1099511627776], got '0'")
        XCTAssertEqual(message(device("copy_rates: [{bytes: 64, gbps: -1}]")),
                       "s.yaml: device.copy_rates[0].gbps: expected a number in (0, 1e6], got '-1'")
        XCTAssertEqual(message(device("copy_rates: [{bytes: 64}]")),
                       "s.yaml: device.copy_rates[0].gbps: missing (required)")
        XCTAssertEqual(message(device("copy_rates: [{bytes: 64, gbps: 1, size: 2}]")),
                       "s.yaml: device.copy_rates[0].size: unknown key 'size'")
        XCTAssertTrue(message(device("copy_rates: [{bytes: 64, gbps: 1}, {bytes: 64, gbps: 2}]"))
            .hasPrefix("s.yaml: device.copy_rates[1]"))
        XCTAssertTrue(message(device("copy_rates: [{bytes: 64, gbps: 1}, {bytes: 64, gbps: 2}]"))
            .contains("a second point for bytes 64"))
    }

    func testRankMapAndEfficiencyTable() throws {
        let s = try SystemSpec.parse(yaml: minimal + """

            rank_map: [1, 0, 1]
            """, sourcePath: nil)
        XCTAssertEqual(s.node(ofRank: 0), 1)
        XCTAssertEqual(s.node(ofRank: 1), 0)
        let t = try SystemSpec.parse(yaml: minimal.replacingOccurrences(of: "execution: graph}", with:
            "execution: graph, efficiency: [{rows: 8, hidden: 64, ffn: 32, ms: 0.5}]}"), sourcePath: nil)
        XCTAssertEqual(t.device.efficiency, [EfficiencyPoint(rows: 8, hidden: 64, ffn: 32, milliseconds: 0.5)])
        let dup = message(minimal.replacingOccurrences(of: "execution: graph}", with:
            "execution: graph, efficiency: [{rows: 8, hidden: 64, ffn: 32, ms: 0.5}, {rows: 8, hidden: 64, ffn: 32, ms: 0.6}]}"))
        XCTAssertEqual(dup, "s.yaml: device.efficiency[1]: a second point for rows 8, hidden 64, ffn 32")
    }

    func testMissingFileIsOneLineNamingThePath() {
        do {
            _ = try SystemSpec.load(path: "/nonexistent/x.yaml")
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual("\(error)", "/nonexistent/x.yaml: cannot read file: No such file or directory")
        }
    }

    func testDirectoryAndOversizedFilesAreRefused() throws {
        do {
            _ = try SystemSpec.load(path: repoRoot + "/configs/systems")
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual("\(error)", repoRoot + "/configs/systems: cannot read file: a directory, not a regular file")
        }
        XCTAssertTrue(message("[1, 2]").hasPrefix("s.yaml: expected a mapping"), message("[1, 2]"))
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "hbm_gbps: 1000", with: "hbm_gbps: fast")),
                       "s.yaml: device.hbm_gbps: expected a number in (0, 1e6], got 'fast'")
        XCTAssertEqual(message(minimal.replacingOccurrences(of: "launch_us: 5", with: "launch_us: .nan")),
                       "s.yaml: device.launch_us: expected a number in [0, 1e6], got '.nan'")
    }
}
