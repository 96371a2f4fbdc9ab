import Foundation
import XCTest
@testable import EpsimCore

/// `GumbelLog`: fdlibm's logarithm, within one ulp of the C library's, the four-lane
/// form equal to the scalar bit for bit, and the Gumbel draws unchanged in law.
final class GumbelLogTests: XCTestCase {
    func testWithinOneUlpOfLibmOverTheDrawsDomain() {
        var rng = SeededRandom.stream(seed: 11, 1)
        var worst = 0.0, differing = 0
        let n = 400_000
        for i in 0..<n {
            // Half the inputs are draws' u in (0, 1), half -log(u) in (0, 38), plus edges.
            let x: Double
            switch i {
            case 0: x = 0x1p-54
            case 1: x = 1 - 0x1p-54
            case 2: x = 5.5e-17
            case 3: x = 37.5
            case 4: x = 1
            case 5: x = 2.0.squareRoot()
            default: x = i % 2 == 0 ? rng.nextOpenDouble() : -Foundation.log(rng.nextOpenDouble())
            }
            let mine = GumbelLog.log(x), libm = Foundation.log(x)
            if mine != libm {
                differing += 1
                worst = max(worst, abs(mine - libm) / libm.ulp)
            }
        }
        XCTAssertLessThanOrEqual(worst, 1, "largest difference from libm: \(worst) ulp")
        // glibc rounds correctly more often than fdlibm's bound needs: about 7 % differ.
        XCTAssertLessThan(differing, n / 5, "\(differing) of \(n) differ from libm by an ulp")
        XCTAssertEqual(GumbelLog.log(1), 0)
        XCTAssertEqual(GumbelLog.log(2), Foundation.log(2))
    }

    /// The logits the router keeps are float32: a Gumbel draw through this logarithm
    /// rounds to the same float as through libm's, but for the rare draw within an ulp of
    /// a float's rounding boundary.
    func testFloatLogitsAreLibmsButForRareRoundingCases() {
        var a = SeededRandom.stream(seed: 13, 3), b = a
        var differ = 0
        let n = 1_000_000
        for _ in 0..<n {
            let mine = Float(-5.545 + a.nextGumbel())
            let libm = Float(-5.545 + -Foundation.log(-Foundation.log(b.nextOpenDouble())))
            if mine != libm { differ += 1 }
        }
        XCTAssertLessThan(differ, 5, "\(differ) of \(n) float logits differ")
    }

    func testFourLanesEqualTheScalarBitForBit() {
        var rng = SeededRandom.stream(seed: 12, 2)
        for _ in 0..<100_000 {
            let x = SIMD4<Double>(rng.nextOpenDouble(), -Foundation.log(rng.nextOpenDouble()),
                                  rng.nextOpenDouble() * 0x1p-40, 1 + rng.nextOpenDouble())
            let lanes = GumbelLog.log(x)
            for i in 0..<4 { XCTAssertEqual(lanes[i].bitPattern, GumbelLog.log(x[i]).bitPattern, "\(x[i])") }
        }
    }

    func testFilledGumbelsAreTheDrawsInTurn() {
        for n in [0, 1, 3, 4, 7, 256, 1001] {
            var a = SeededRandom.stream(seed: 3, UInt64(n)), b = a
            var out = [Double](repeating: .nan, count: n)
            out.withUnsafeMutableBufferPointer { a.fillGumbels($0.baseAddress!, count: n) }
            XCTAssertEqual(out.map(\.bitPattern), (0..<n).map { _ in b.nextGumbel().bitPattern }, "n \(n)")
            XCTAssertEqual(a.next(), b.next(), "n \(n): the streams stay in step")
        }
    }
}
