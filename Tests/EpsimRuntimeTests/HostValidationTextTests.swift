import EpsimCore
@testable import EpsimRuntime
import XCTest

/// `validate-model --host`'s table on made-up rows: each figure where it belongs, errors
/// signed as modeled / measured − 1, and the verdict from the bounds.
final class HostValidationTextTests: XCTestCase {
    private func row(_ layout: String, dispatch: (Double, Double), combine: (Double, Double),
                     expert: (Double, Double) = (1, 1), permute: (Double, Double) = (1, 1)) -> HostValidation.Row {
        HostValidation.Row(layout: layout, ranks: 2,
                           measuredMs: [.dispatch: dispatch.0, .combine: combine.0, .expert: expert.0, .permute: permute.0,
                                        .unpermute: 0],
                           modeledMs: [.dispatch: dispatch.1, .combine: combine.1, .expert: expert.1, .permute: permute.1,
                                       .unpermute: 0])
    }

    func testDispatchAndCombineApartAreSignedAgainstTheMeasured() {
        let rows = [row("long dispatch", dispatch: (2, 2.5), combine: (2, 1.5)),
                    row("short dispatch, long combine", dispatch: (0.2, 0.1), combine: (0.4, 0.5))]
        let text = HostValidation.text(rows, system: "vm")
        let apart = text.split(separator: "\n").first { $0.hasPrefix("dispatch / combine apart (ms; not bounded on their own): ") }
        XCTAssertEqual(apart.map(String.init),
                       "dispatch / combine apart (ms; not bounded on their own): "
                       + "long dispatch 2.000 → 2.500 (+25.00%) / 2.000 → 1.500 (-25.00%); "
                       + "short dispatch, long combine 0.200 → 0.100 (-50.00%) / 0.400 → 0.500 (+25.00%)", text)
        // The pair's sum: 4 → 4 and 0.6 → 0.6, no error.
        XCTAssertTrue(text.contains("4.000 → 4.000 (+0.00%)"), text)
        XCTAssertTrue(text.contains("dispatch+combine: median |error| 0.00%, max 0.00% over 2 layouts"), text)
        XCTAssertTrue(HostValidation.withinBounds(rows))
        // A share that rounds to zero from below keeps a sign, as every cell does.
        let tiny = HostValidation.text([row("b", dispatch: (1, 0.99999), combine: (1, 1))], system: "vm")
        XCTAssertTrue(tiny.contains("b 1.000 → 1.000 (+0.00%) / 1.000 → 1.000 (+0.00%)"), tiny)
        // The bound is on the pair: a dispatch 25 % long beside an exact combine is 12.5 %
        // of the pair, within 15 %; 40 % long is 20 %, beyond it.
        XCTAssertTrue(HostValidation.withinBounds([row("a", dispatch: (2, 2.5), combine: (2, 2))]))
        XCTAssertFalse(HostValidation.withinBounds([row("a", dispatch: (2, 2.8), combine: (2, 2))]))
    }
}
