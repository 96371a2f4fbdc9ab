import XCTest
@testable import EpsimCore

/// The layers' pre-norm: x / sqrt(mean(x²) + 1e-6), unit scale, finite for any finite row.
final class RMSNormTests: XCTestCase {
    func testMatchesTheFormulaRowByRow() {
        var rng = TestRandom(seed: 5)
        let H = 24, rows = 7
        let x = (0..<(rows * H)).map { i in Float(Double.random(in: -3...3, using: &rng) * Double(i % 5 + 1)) }
        let y = RMSNorm.apply(x, hidden: H)
        for t in 0..<rows {
            let row = x[(t * H)..<((t + 1) * H)].map(Double.init)
            let rms = (row.map { $0 * $0 }.reduce(0, +) / Double(H) + 1e-6).squareRoot()
            for h in 0..<H {
                XCTAssertEqual(Double(y[t * H + h]), row[h] / rms, accuracy: 1e-6 * abs(row[h] / rms) + 1e-12)
            }
            let meanSquare = y[(t * H)..<((t + 1) * H)].map { Double($0) * Double($0) }.reduce(0, +) / Double(H)
            XCTAssertEqual(meanSquare, 1, accuracy: 1e-5, "unit scale: each row comes out with rms 1")
        }
    }

    func testHugeRowsStayFiniteAndZeroRowsStayZero() {
        let H = 16
        let huge = [Float](repeating: 3e38, count: H) + [Float](repeating: 0, count: H)
        let y = RMSNorm.apply(huge, hidden: H)
        XCTAssertEqual(Array(y[..<H]), [Float](repeating: 1, count: H), "3e38 squared overflows float32, not Double")
        XCTAssertEqual(Array(y[H...]), [Float](repeating: 0, count: H), "eps keeps a zero row at zero")
        var spike = [Float](repeating: 0, count: H)
        spike[3] = -1e30
        XCTAssertEqual(RMSNorm.apply(spike, hidden: H)[3], -Float(H).squareRoot(), accuracy: 1e-5,
                       "no entry exceeds sqrt(H)")
    }

    func testNonFiniteRowsComeOutNonFinite() {
        var x = [Float](repeating: 1, count: 8)
        x[2] = .infinity
        XCTAssertFalse(RMSNorm.apply(x, hidden: 8).allSatisfy(\.isFinite))
        x[2] = .nan
        XCTAssertTrue(RMSNorm.apply(x, hidden: 8).allSatisfy(\.isNaN))
    }
}
