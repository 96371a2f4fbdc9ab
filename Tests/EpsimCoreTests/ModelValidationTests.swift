import XCTest
@testable import EpsimCore

/// The model against the ground truth in docs/model-data (README there): each table's
/// median error within its bound. A drift of the model or of a system file fails here.
final class ModelValidationTests: XCTestCase {
    let data = repoRoot + "/docs/model-data"
    let systems = repoRoot + "/configs/systems"

    func show(_ t: ValidationTable) {
        print("\(t.title): median \(t.medianError), held-out median \(t.heldOutMedianError), max \(t.maxError)")
        for r in t.rows {
            print(String(format: "  %-60@ %10.4f %10.4f %+7.1f%%%@", r.label as NSString, r.measured, r.modeled,
                         100 * r.relativeError, r.fitted ? " (fitted)" : ""))
        }
    }

    func testH200ExpertPhaseWithinTenPercent() throws {
        let h200 = try SystemSpec.load(path: systems + "/h200-8x.yaml")
        let tables = try ModelValidation.h200Experts(dataDirectory: data, system: h200)
        XCTAssertEqual(tables.count, 5)
        XCTAssertEqual(tables[0].rows.count, 64)
        XCTAssertEqual(tables[3].rows.count, 64)
        XCTAssertEqual(tables[4].rows.count, 8)
        for t in tables {
            show(t)
            XCTAssertLessThanOrEqual(t.medianError, t.bound, t.title)
            XCTAssertLessThanOrEqual(t.heldOutMedianError, t.bound, t.title)
        }
    }

    func testH200OtherPhases() throws {
        let h200 = try SystemSpec.load(path: systems + "/h200-8x.yaml")
        let t = try ModelValidation.h200OtherPhases(dataDirectory: data, system: h200)
        show(t)
        XCTAssertEqual(t.rows.count, 7)
        XCTAssertLessThanOrEqual(t.medianError, t.bound)
        for r in t.rows {
            XCTAssertLessThanOrEqual(abs(r.relativeError), t.bound, r.label)
        }
        // gate_gemm_efficiency was fitted on the Mixtral route and scatter_efficiency on
        // the DeepSeek-V3 unpermute: those two rows are reproduced, the rest held out.
        XCTAssertEqual(t.rows.filter(\.fitted).map(\.label), ["deepseek-v3 T=512 unpermute", "mixtral T=4096 route"])
        for r in t.rows where r.fitted { XCTAssertLessThanOrEqual(abs(r.relativeError), 0.005, r.label) }
        XCTAssertLessThanOrEqual(t.heldOutMedianError, t.bound)
    }

    func testDeepEPNormalKernels() throws {
        let h800 = try SystemSpec.load(path: systems + "/h800-8x-ib400.yaml")
        let t = try ModelValidation.deepEPNormal(dataDirectory: data, system: h800)
        show(t)
        XCTAssertEqual(t.rows.count, 8)
        for r in t.rows { XCTAssertLessThanOrEqual(abs(r.relativeError), t.bound, r.label) }
        // The NVLink (EP8 dispatch) and NIC (EP32 dispatch) efficiencies were fitted on one
        // row each: those land within the rounding of a two-digit efficiency (±1.5 %).
        XCTAssertEqual(t.rows.filter(\.fitted).map { String($0.label.prefix(4)) }, ["EP8 ", "EP32"])
        for r in t.rows where r.fitted { XCTAssertLessThanOrEqual(abs(r.relativeError), 0.015, r.label) }
        // EP16 is bound by NVLink forwarding, EP32 and EP64 by the NIC.
        XCTAssertTrue(t.rows[2].label.contains("NVLink"), t.rows[2].label)
        XCTAssertTrue(t.rows[4].label.contains("NIC") && t.rows[6].label.contains("NIC"))
    }

    func testMissingDataDirectoryIsOneLine() {
        XCTAssertThrowsError(try ModelValidation.all(dataDirectory: "/nonexistent", systemsDirectory: systems)) { e in
            XCTAssertEqual("\(e)", "/nonexistent/experts_per_rank.json: cannot read file: No such file or directory")
        }
    }
}
