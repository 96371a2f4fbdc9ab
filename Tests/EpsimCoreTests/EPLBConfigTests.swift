import XCTest
import Foundation
@testable import EpsimCore

/// `placement: {kind: eplb}` read from YAML: the load file's two forms, the defaults,
/// and the one-line errors for bad keys and values.
final class EPLBConfigTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "epsim-eplb-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ text: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func yaml(_ placement: String, experts: Int = 8, routerGroups: Int = 1) -> String {
        "model: {experts: \(experts), top_k: 2}\nrouter: {groups: \(routerGroups), groups_per_token: 1}\nplacement: \(placement)\n"
    }

    func testReadsAPlainArrayRelativeToTheConfig() throws {
        _ = write("load.json", "[80, 10, 10, 10, 10, 10, 10, 10]")
        let c = try ConfigLoader.parse(yaml: yaml("{kind: eplb, load: load.json, redundant_experts: 4}"),
                                       file: dir + "/c.yaml")
        guard case let .eplb(e) = c.placement.base else { return XCTFail("not eplb") }
        XCTAssertEqual(e.load, [80, 10, 10, 10, 10, 10, 10, 10])
        XCTAssertEqual(e.file, dir + "/load.json")
        XCTAssertEqual(e.redundantExperts, 4)
        XCTAssertNil(e.ranksPerNode)
        XCTAssertEqual(e.groups, 1)
        // 12 slots on 4 ranks: expert 0 (80 of 150) gets 4 more copies... bounded by 3 per rank.
        let layout = try ExpertLayout(c.placement, experts: 8, ranks: 4)
        XCTAssertEqual(layout.local.map(\.count).reduce(0, +) + 0, layout.copies.map(\.count).reduce(0, +))
        XCTAssertEqual(layout.copies[0].count, 4, "expert 0 replicated onto every rank")
        for e in 1..<8 { XCTAssertEqual(layout.copies[e].count, 1) }
    }

    func testReadsAnEpsimResultsExpertLoad() throws {
        _ = write("r.json", #"{"schema": "epsim.result/1", "routing": {"expert_load": [1, 2, 3, 4, 5, 6, 7, 800]}}"#)
        let c = try ConfigLoader.parse(yaml: yaml("{kind: eplb, load: r.json, redundant_experts: 0, ranks_per_node: 2}", routerGroups: 4),
                                       file: dir + "/c.yaml")
        guard case let .eplb(e) = c.placement.base else { return XCTFail("not eplb") }
        XCTAssertEqual(e.load.last, 800)
        XCTAssertEqual(e.groups, 4, "placement.groups defaults to router.groups")
        XCTAssertEqual(e.ranksPerNode, 2)
        let text = ConfigLoader.resolvedYAML(c)
        XCTAssertTrue(text.contains("kind: eplb"), text)
        XCTAssertTrue(text.contains("redundant_experts: 0"), text)
    }

    func testErrorsAreOneLineAndNameTheKey() throws {
        _ = write("load.json", "[80, 10, 10, 10, 10, 10, 10, 10]")
        _ = write("short.json", "[1, 2, 3]")
        _ = write("neg.json", "[1, 2, 3, 4, 5, 6, 7, -1]")
        _ = write("zero.json", "[0, 0, 0, 0, 0, 0, 0, 0]")
        _ = write("obj.json", #"{"routing": {}}"#)
        _ = write("bad.json", "[1, 2,")
        func message(_ placement: String, worldSize: Int? = nil, routerGroups: Int = 1) -> String {
            do {
                let c = try ConfigLoader.parse(yaml: yaml(placement, routerGroups: routerGroups), file: dir + "/c.yaml")
                if let worldSize { try ConfigValidator.check(c, worldSize: worldSize) }
                XCTFail("expected an error for \(placement)")
                return ""
            } catch {
                let text = "\(error)"
                XCTAssertFalse(text.contains("\n"), text)
                return text
            }
        }
        XCTAssertTrue(message("{kind: eplb}").contains("placement.load: required for kind: eplb"))
        XCTAssertTrue(message("{kind: eplb, load: short.json}").contains("holds 3 loads, but model.experts is 8"))
        XCTAssertTrue(message("{kind: eplb, load: neg.json}").contains("entry 7 is -1.0"))
        XCTAssertTrue(message("{kind: eplb, load: zero.json}").contains("every load is 0"))
        XCTAssertTrue(message("{kind: eplb, load: obj.json}").contains("without routing.expert_load"))
        XCTAssertTrue(message("{kind: eplb, load: bad.json}").contains("not JSON"))
        XCTAssertTrue(message("{kind: eplb, load: missing.json}").contains("placement.load: "))
        XCTAssertTrue(message("{kind: contiguous, redundant_experts: 2}").contains("placement.redundant_experts: only allowed with kind: eplb"))
        XCTAssertTrue(message("{kind: eplb, load: load.json, redundant_experts: -1}").contains("placement.redundant_experts: expected an integer in [0, 65536], got -1"))
        XCTAssertTrue(message("{kind: eplb, load: load.json, groups: 3}").contains("placement.groups: 3 does not divide model.experts (8)"))
        XCTAssertTrue(message("{kind: eplb, load: load.json, ranks_per_node: 0}").contains("placement.ranks_per_node: expected an integer in [1, 65536], got 0"))
        let m = message("{kind: eplb, load: load.json, redundant_experts: 3}", worldSize: 4)
        XCTAssertTrue(m.contains("placement.redundant_experts: 3: model.experts + redundant_experts = 11 is not a multiple of the world size 4"), m)
        XCTAssertTrue(m.contains("try 4"), m)
        XCTAssertTrue(message("{kind: eplb, load: load.json, ranks_per_node: 3}", worldSize: 4).contains("placement.ranks_per_node: 3 does not divide the world size 4"))
        XCTAssertTrue(message("{kind: eplbb, load: load.json}").contains("did you mean 'eplb'"))
    }
}
