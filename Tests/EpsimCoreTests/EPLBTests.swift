import XCTest
import Foundation
@testable import EpsimCore

/// `EPLB` against DeepSeek's own eplb.py: Tests/Fixtures/eplb/cases.json holds 40 seeded
/// loads (10 shapes, hierarchical and global policies, 0 and > 0 redundant experts; 20
/// float32 and 20 integer) and
/// what `rebalance_experts` returned for them (generate.py records the EPLB commit).
final class EPLBTests: XCTestCase {
    struct Case {
        let experts, ranks, ranksPerNode, groups, redundant: Int
        let policy: String
        let integerLoad: Bool
        let load: [Double]
        let phy2log, phyrank, logcnt: [Int]
    }

    static func cases() throws -> [Case] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/eplb/cases.json")
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let list = try XCTUnwrap(root["cases"] as? [[String: Any]])
        func int(_ c: [String: Any], _ k: String) -> Int { (c[k] as! NSNumber).intValue }
        func ints(_ c: [String: Any], _ k: String) -> [Int] { (c[k] as! [NSNumber]).map(\.intValue) }
        return list.map { c in
            Case(experts: int(c, "experts"), ranks: int(c, "ranks"), ranksPerNode: int(c, "ranks_per_node"),
                 groups: int(c, "groups"), redundant: int(c, "redundant_experts"), policy: c["policy"] as! String,
                 integerLoad: (c["integer_load"] as! NSNumber).boolValue,
                 load: (c["load"] as! [NSNumber]).map(\.doubleValue), phy2log: ints(c, "phy2log"), phyrank: ints(c, "phyrank"),
                 logcnt: ints(c, "logcnt"))
        }
    }

    /// Float32 loads (cases 0-19, no two experts tie): phy2log and logcnt equal EPLB's
    /// slot for slot. The replica rank of a slot may differ between replicas of one
    /// expert: they have equal load / count, and torch's `sort` is not stable past 16
    /// items, so EPLB's order among them is torch's. So phyrank is compared as: each
    /// expert's replicas numbered 0..<count (EPLB's log2phy holds the same slots).
    func testEqualsDeepSeekEPLBSlotForSlot() throws {
        let cases = try Self.cases().filter { !$0.integerLoad }
        XCTAssertEqual(cases.count, 20)
        XCTAssertEqual(Set(cases.map(\.policy)), ["hierarchical", "global"])
        for (i, c) in cases.enumerated() {
            let r = rebalance(c)
            XCTAssertEqual(r.hierarchical, c.policy == "hierarchical", "case \(i)")
            XCTAssertEqual(r.physicalToLogical, c.phy2log, "case \(i) phy2log")
            XCTAssertEqual(r.logicalCount, c.logcnt, "case \(i) logcnt")
            for e in 0..<c.experts {
                let ranks = r.physicalToLogical.indices.filter { r.physicalToLogical[$0] == e }.map { r.replicaRank[$0] }
                XCTAssertEqual(ranks.sorted(), Array(0..<c.logcnt[e]), "case \(i) expert \(e) replica ranks")
            }
        }
    }

    /// Integer loads (cases 20-39, as an epsim result holds): load / replicas can tie
    /// between experts, and EPLB then orders them as torch's unstable sort does, this
    /// port by the lower index. Swapping equal items in the greedy packing leaves every
    /// pack's weight unchanged, so the replica counts and every rank's load (the float32
    /// sum of load / count over its slots, in slot order) must still equal EPLB's.
    func testIntegerLoadsBalanceAsDeepSeekEPLB() throws {
        let cases = try Self.cases().filter(\.integerLoad)
        XCTAssertEqual(cases.count, 20)
        var exact = 0
        for (i, c) in cases.enumerated() {
            let r = rebalance(c)
            XCTAssertEqual(r.logicalCount, c.logcnt, "case \(i + 20) logcnt")
            XCTAssertEqual(Self.rankLoads(c, r.physicalToLogical, r.logicalCount),
                           Self.rankLoads(c, c.phy2log, c.logcnt), "case \(i + 20) per-rank load")
            if r.physicalToLogical == c.phy2log { exact += 1 }
        }
        XCTAssertGreaterThan(exact, 0, "ties are rare enough that some cases match slot for slot")
    }

    func rebalance(_ c: Case) -> EPLB.Result {
        EPLB.rebalance(load: c.load, physicalExperts: c.experts + c.redundant, groups: c.groups,
                       nodes: c.ranks / c.ranksPerNode, gpus: c.ranks)
    }

    /// [P] each rank's load: sum over a rank's slots of load / count, in float32.
    static func rankLoads(_ c: Case, _ phy2log: [Int], _ count: [Int]) -> [Float] {
        let per = phy2log.count / c.ranks
        return (0..<c.ranks).map { r in
            var sum: Float = 0
            for e in phy2log[(r * per)..<((r + 1) * per)] { sum += Float(c.load[e]) / Float(count[e]) }
            return sum
        }
    }

    /// The layout holds EPLB's experts per rank (duplicates on one rank merged), and its
    /// copies are EPLB's replicas (the float32 cases, where the slots are EPLB's).
    func testLayoutFollowsPhysicalToLogical() throws {
        for c in try Self.cases() where !c.integerLoad {
            let e = EPLBPlacement(file: "x", load: c.load, redundantExperts: c.redundant, ranksPerNode: c.ranksPerNode,
                                  groups: c.groups)
            var p = PlacementConfig()
            p.base = .eplb(e)
            let layout = try ExpertLayout(p, experts: c.experts, ranks: c.ranks)
            let per = (c.experts + c.redundant) / c.ranks
            for r in 0..<c.ranks {
                XCTAssertEqual(Set(layout.local[r]), Set(c.phy2log[(r * per)..<((r + 1) * per)]))
            }
            for expert in 0..<c.experts {
                XCTAssertLessThanOrEqual(layout.copies[expert].count, c.logcnt[expert])
                XCTAssertGreaterThanOrEqual(layout.copies[expert].count, 1)
            }
        }
    }

    /// Replication minimizes the largest load per replica: the hottest expert gets the
    /// spare slots until its share falls below the next one's (a hand-checked case).
    func testReplicateByHand() {
        let r = EPLB.replicate([90, 30, 20, 10], physical: 7)
        // 90 → 2 copies (45), → 3 (30), then 30 vs 30: the lower index (expert 0) → 4 (22.5).
        XCTAssertEqual(r.phy2log, [0, 1, 2, 3, 0, 0, 0])
        XCTAssertEqual(r.count, [4, 1, 1, 1])
        XCTAssertEqual(r.rank, [0, 0, 0, 0, 1, 2, 3])
    }

    /// Packing: heaviest first into the lightest pack with room.
    func testBalancedPackingByHand() {
        let r = EPLB.balancedPacking([5, 1, 4, 2, 3, 6], packs: 2)
        // Order 6,5,4,3,2,1: 6→A, 5→B, 4→B (5 < 6), 3→A (6 < 9), 2→A (9 = 9: the lower), 1→B.
        XCTAssertEqual(r.pack, [1, 1, 1, 0, 0, 0])
        XCTAssertEqual(r.rankInPack, [0, 2, 1, 2, 1, 0])
    }
}
