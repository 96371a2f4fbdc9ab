import XCTest
@testable import EpsimCore

/// The memory a layout needs is estimated from the config and a layout that cannot fit
/// is refused in one line, naming the largest term's keys, their values and the limit.
final class MemoryEstimateTests: XCTestCase {
    private let gib = 1024.0 * 1024 * 1024

    private func refusal(_ yaml: String, _ overrides: [String] = [], worldSize: Int = 4,
                         limit: Double, file: StaticString = #filePath, line: UInt = #line) -> String {
        validationMessage(yaml, overrides, worldSize: worldSize, memoryBytes: limit, file: file, line: line)
    }

    func testEachKindOfExcessNamesItsKeysAndValues() throws {
        XCTAssertTrue(refusal("", ["steps=2000000000"], limit: 16 * gib).hasPrefix(
            "--set steps=2000000000: steps = 2000000000 needs an estimated 8.6 TiB of per-step timer and metric storage; "
                + "the run needs about 8.6 TiB for 4 ranks on this machine, more than the 16.0 GiB available (test)"))
        XCTAssertTrue(refusal("tokens: 1000000000\nmodel: {top_k: 2}", limit: 16 * gib).hasPrefix(
            "t.yaml: tokens × model.top_k × model.hidden = 1000000000 × 2 × 256 needs an estimated"))
        XCTAssertTrue(refusal("", ["model={hidden: 10000000}"], limit: 16 * gib).hasPrefix(
            "--set model={hidden: 10000000}: tokens × model.top_k × model.hidden = 512 × 2 × 10000000 needs"))
        XCTAssertTrue(refusal("model: {layers: 1000000}", limit: 16 * gib).hasPrefix(
            "t.yaml: model.layers × model.experts × model.hidden × model.ffn = 1000000 × 8 × 256 × 512 needs an estimated 11.4 TiB of expert weights"))
        XCTAssertTrue(refusal("tokens: [32, 40000000]", worldSize: 2, limit: 16 * gib).hasPrefix(
            "t.yaml: tokens × model.top_k × model.hidden = [32, 40000000] × 2 × 256 needs"))
    }

    func testEmulatedRanksAddUpAndOneRankPerProcessDoesNot() throws {
        let c = try ConfigLoader.parse(yaml: "tokens: 65536", file: "t.yaml")
        let all = try ConfigLoader.estimate(c, worldSize: 8, memory: MemoryLimit(bytes: .infinity, source: "test"))
        let one = try ConfigLoader.estimate(c, worldSize: 8, processRanks: 3..<4,
                                            memory: MemoryLimit(bytes: .infinity, source: "test"))
        XCTAssertEqual(all.ranks, 8)
        XCTAssertEqual(one.ranks, 1)
        let base = MemoryEstimate.baselineBytes
        XCTAssertEqual((all.total - base) / (one.total - base), 8, accuracy: 0.5)
        // The same layout fits one rank's share of a limit but not eight ranks in one process.
        let limit = MemoryLimit(bytes: (one.total + all.total) / 2, source: "test")
        XCTAssertNoThrow(try ConfigLoader.validate(c, worldSize: 8, processRanks: 3..<4, memory: limit))
        XCTAssertThrowsError(try ConfigLoader.validate(c, worldSize: 8, memory: limit))
    }

    /// Under `ulimit -v`, each rank also maps a thread stack and OpenBLAS's buffer
    /// (OpenBLAS spins for ever when it cannot): a tiny layout that fits the data limit
    /// is refused when its ranks' address space does not fit.
    func testAddressSpaceLimitCountsStacksAndBLASBuffersPerRank() throws {
        let c = try ConfigLoader.parse(yaml: "tokens: 8\nmodel: {hidden: 8, ffn: 8, experts: 4}", file: "t.yaml")
        let perRank = MemoryEstimate.addressSpacePerRank
        func limit(_ space: Double) -> MemoryLimit { MemoryLimit(bytes: 16 * gib, source: "test", addressSpace: space) }
        XCTAssertNoThrow(try ConfigLoader.validate(c, worldSize: 2, memory: limit(2.5 * perRank)))
        XCTAssertThrowsError(try ConfigLoader.validate(c, worldSize: 2, memory: limit(1.5 * perRank))) { error in
            XCTAssertTrue("\(error)".hasPrefix("t.yaml: the run needs about 288.0 MiB more address space for 2 ranks in this process ("),
                          "\(error)")
            XCTAssertTrue("\(error)".hasSuffix("more than the 216.0 MiB left under RLIMIT_AS (ulimit -v)"), "\(error)")
        }
        // One MPI rank per process needs one rank's share, even with both on this node.
        XCTAssertNoThrow(try ConfigLoader.validate(c, worldSize: 2, processRanks: 1..<2, memory: limit(1.5 * perRank)))
        XCTAssertNoThrow(try ConfigLoader.validate(c, worldSize: 2, processRanks: 0..<2, ranksInProcess: 1,
                                                   memory: limit(1.5 * perRank)))
    }

    func testTokenRowsTermIsExact() throws {
        // (layers + 1) blocks of [T × H] floats per rank.
        let c = try ConfigLoader.parse(yaml: "tokens: 1000\nmodel: {hidden: 64, layers: 3}", file: nil)
        let layout = try ExpertLayout(c.placement, experts: 8, ranks: 2)
        let e = MemoryEstimate(c, layout: layout, processRanks: 0..<2)
        XCTAssertEqual(e.terms.first { $0.name == "token rows" }?.bytes, 2 * 4 * 1000 * 64 * 4)
        XCTAssertEqual(e.terms.first { $0.name == "expert weights" }?.bytes, 3 * 8 * 3 * 64 * 512 * 4)
    }

    func testSystemLimitIsPositiveAndNamed() {
        let limit = MemoryLimit.current()
        XCTAssertGreaterThan(limit.bytes, 0)
        XCTAssertFalse(limit.source.isEmpty)
    }

    func testMemoryText() {
        XCTAssertEqual(memoryText(812), "812 B")
        XCTAssertEqual(memoryText(1536), "1.5 KiB")
        XCTAssertEqual(memoryText(16 * gib), "16.0 GiB")
    }
}
