import XCTest
@testable import EpsimCore

/// The permute and unpermute per-row costs (`permute_row_ns`, `unpermute_row_ns`) and
/// `compute_bytes`: what they add to the phases, and the fit `epsim calibrate` makes of them.
final class PerRowCostTests: XCTestCase {
    let H = 256, wire = 1024, combine = 1024

    func device(permute: Double = 0, unpermute: Double = 0, computeBytes: Int = 2, launch: Double = 0,
                kernel: Double = 0) -> DeviceSpec {
        var d = DeviceSpec(bf16TFLOPS: 100, hbmGBps: 20, launchMicros: launch, execution: .loop)
        d.permuteRowNanos = permute
        d.unpermuteRowNanos = unpermute
        d.computeBytes = computeBytes
        d.kernelMicros = kernel
        d.scatterEfficiency = 0.5
        return d
    }

    /// The defaults leave the GPU formulas as they were: one gather of rows × (2H + wire)
    /// bytes, one scatter-add of rows × (combine + 8H / scatter_efficiency) bytes.
    func testDefaultsAreTheByteTermsAlone() {
        let m = DeviceModel(device: device(kernel: 3))
        let rows = 1000, bps = 20e9
        XCTAssertEqual(m.permuteSeconds(rows: rows, hidden: H, wireRowBytes: wire),
                       Double(rows * (2 * H + wire)) / bps + 3e-6, accuracy: 1e-15)
        XCTAssertEqual(m.unpermuteSeconds(rows: rows, hidden: H, combineRowBytes: combine),
                       Double(rows * combine) / bps + Double(rows * 8 * H) / (bps * 0.5) + 3e-6, accuracy: 1e-15)
        XCTAssertEqual(m.permuteSeconds(rows: 0, hidden: H, wireRowBytes: wire), 0)
    }

    func testPerRowCostsAndComputeBytesAddToTheirPhaseOnly() {
        let rows = 1000
        let base = DeviceModel(device: device())
        let m = DeviceModel(device: device(permute: 37.5, unpermute: 12.25, computeBytes: 4))
        XCTAssertEqual(m.permuteSeconds(rows: rows, hidden: H, wireRowBytes: wire)
                       - base.permuteSeconds(rows: rows, hidden: H, wireRowBytes: wire),
                       Double(rows) * 37.5e-9 + Double(rows * 2 * H) / 20e9, accuracy: 1e-15)
        XCTAssertEqual(m.unpermuteSeconds(rows: rows, hidden: H, combineRowBytes: combine)
                       - base.unpermuteSeconds(rows: rows, hidden: H, combineRowBytes: combine),
                       Double(rows) * 12.25e-9, accuracy: 1e-15)
        // Launches still bound a short phase from below.
        let launched = DeviceModel(device: device(permute: 37.5, launch: 500))
        XCTAssertEqual(launched.permuteSeconds(rows: 10, hidden: H, wireRowBytes: wire), 500e-6)
    }

    /// The fit recovers the per-row cost of timings the model itself made, and clamps.
    func testFitRecoversAKnownPerRowCost() {
        for (permute, unpermute, kernel) in [(41.0, 7.5, 0.0), (0.25, 300.0, 6.31), (1e4, 0, 0)] {
            let m = DeviceModel(device: device(permute: permute, unpermute: unpermute, computeBytes: 4, kernel: kernel))
            for rows in [1, 1024, 70_000] {
                let p = m.permuteSeconds(rows: rows, hidden: H, wireRowBytes: wire)
                let u = m.unpermuteSeconds(rows: rows, hidden: H, combineRowBytes: combine)
                let fitP = DeviceModel.rowNanos(seconds: p, rows: rows,
                                                byteSeconds: m.permuteByteSeconds(rows: rows, hidden: H, wireRowBytes: wire),
                                                kernelSeconds: kernel * 1e-6)
                let fitU = DeviceModel.rowNanos(seconds: u, rows: rows,
                                                byteSeconds: m.unpermuteByteSeconds(rows: rows, hidden: H, combineRowBytes: combine),
                                                kernelSeconds: kernel * 1e-6)
                XCTAssertEqual(fitP, permute, accuracy: 1e-6 * max(1, permute), "rows \(rows)")
                XCTAssertEqual(fitU, unpermute, accuracy: 1e-6 * max(1, unpermute), "rows \(rows)")
            }
        }
        // Faster than its bytes: no per-row cost; nothing to divide by, or no time: 0.
        XCTAssertEqual(DeviceModel.rowNanos(seconds: 1e-4, rows: 100, byteSeconds: 2e-4), 0)
        XCTAssertEqual(DeviceModel.rowNanos(seconds: 1e-4, rows: 0, byteSeconds: 0), 0)
        XCTAssertEqual(DeviceModel.rowNanos(seconds: .infinity, rows: 10, byteSeconds: 0), 0)
        XCTAssertEqual(DeviceModel.rowNanos(seconds: 3e-6, rows: 100, byteSeconds: 1e-6), 20, accuracy: 1e-9)
    }

    /// The permute's per-row cost is paid on the assignments when given; its bytes on the rows.
    func testPermutePerRowCostIsPaidOnTheAssignments() {
        let m = DeviceModel(device: device(permute: 100, computeBytes: 4))
        let bytes = m.permuteByteSeconds(rows: 700, hidden: H, wireRowBytes: wire)
        XCTAssertEqual(bytes, 700 * Double(4 * H + wire) / 20e9, accuracy: 1e-15)
        XCTAssertEqual(m.permuteSeconds(rows: 700, hidden: H, wireRowBytes: wire, assignments: 1024),
                       bytes + 1024 * 100e-9, accuracy: 1e-15)
        XCTAssertEqual(m.permuteSeconds(rows: 700, hidden: H, wireRowBytes: wire), bytes + 700 * 100e-9, accuracy: 1e-15)
        // Every assignment dropped: the decisions are still paid for; with no per-row cost, nothing.
        XCTAssertEqual(m.permuteSeconds(rows: 0, hidden: H, wireRowBytes: wire, assignments: 10), 1e-6, accuracy: 1e-15)
        XCTAssertEqual(DeviceModel(device: device()).permuteSeconds(rows: 0, hidden: H, wireRowBytes: wire, assignments: 10), 0)
    }

    /// The model passes the rank's dispatch rows to both phases and the chunk's T·k
    /// assignments to the permute's per-row cost.
    func testStepModelChargesTheDispatchRows() {
        let rowBytes = 4 * H
        var d = device(permute: 100, unpermute: 50, computeBytes: 4)
        d.execution = .graph
        let system = SystemSpec(name: "t", devicesPerNode: 2, device: d, intraNode: LinkSpec(gbps: 10, latencyMicros: 0),
                                interNode: LinkSpec(gbps: 10, latencyMicros: 0), allToAll: .flat)
        let rows = [300, 200]
        let chunk = ChunkTraffic(tokens: 256, dispatchBytes: rows.map { $0 * rowBytes }, combineBytes: rows.map { $0 * rowBytes },
                                 dispatchRows: rows, combineRows: rows, tokensToNode: [256], expertRows: [])
        let step = StepTraffic(ranks: 2, nodes: 1, perRank: [RankStepTraffic(tokens: 256, chunks: [chunk]),
                                                               RankStepTraffic(tokens: 256, chunks: [chunk])])
        let shape = ModelShape(hidden: H, ffn: 8, experts: 2, topK: 2, dispatchRowBytes: rowBytes, combineRowBytes: rowBytes)
        let modeled = StepModel.evaluate(step, shape: shape, system: system)
        let m = DeviceModel(device: d)
        XCTAssertEqual(modeled.perRank[.permute]![0],
                       m.permuteSeconds(rows: 500, hidden: H, wireRowBytes: rowBytes, assignments: 512))
        XCTAssertEqual(modeled.perRank[.unpermute]![0], m.unpermuteSeconds(rows: 500, hidden: H, combineRowBytes: rowBytes))
        XCTAssertEqual(modeled.perRank[.permute]![0],
                       500 * Double(4 * H + rowBytes) / 20e9 + 512 * 100e-9, accuracy: 1e-15)
        XCTAssertEqual(modeled.perRank[.unpermute]![0],
                       500 * Double(rowBytes) / 20e9 + 500 * Double(8 * H) / (20e9 * 0.5) + 500 * 50e-9, accuracy: 1e-15)
    }

    /// With `copy_rates`, a phase's bytes run at the rate of a memcpy of half of them,
    /// interpolated in log size and held beyond the ends; without, at HBM's.
    func testCopyRatesSetTheByteTermsRate() {
        var d = DeviceSpec(bf16TFLOPS: 1, hbmGBps: 20, launchMicros: 0, execution: .loop)
        let hbmOnly = DeviceModel(device: d)
        XCTAssertEqual(hbmOnly.byteRate(moving: 1e6), 20e9)
        d.copyRates = [CopyRatePoint(bytes: 4 << 20, gbps: 100), CopyRatePoint(bytes: 1 << 20, gbps: 200),
                       CopyRatePoint(bytes: 64 << 20, gbps: 20)]
        d.computeBytes = 4
        let m = DeviceModel(device: d)
        XCTAssertEqual(m.byteRate(moving: 2 * 1024), 200e9)                 // below the smallest: held
        XCTAssertEqual(m.byteRate(moving: 2 * Double(1 << 20)), 200e9)      // a measured size
        XCTAssertEqual(m.byteRate(moving: 2 * Double(2 << 20)), 150e9, accuracy: 1)  // half-way in log size
        XCTAssertEqual(m.byteRate(moving: 2 * Double(16 << 20)), 60e9, accuracy: 1)  // 4 → 64 MiB, half-way
        XCTAssertEqual(m.byteRate(moving: 1e12), 20e9)                       // beyond the largest: held
        // The permute's bytes: 1024 rows × (4·256 read + 1024 written) = 2 MiB moved, a
        // 1 MiB copy: 200 GB/s.
        XCTAssertEqual(m.permuteByteSeconds(rows: 1024, hidden: 256, wireRowBytes: 1024), Double(2 << 20) / 200e9,
                       accuracy: 1e-15)
        // The unpermute's read and scatter-add share one rate, the add at scatter efficiency.
        d.scatterEfficiency = 0.5
        let u = DeviceModel(device: d).unpermuteByteSeconds(rows: 512, hidden: 256, combineRowBytes: 1024)
        let rate = DeviceModel(device: d).byteRate(moving: 512 * 1024 + 512 * 8 * 256)
        XCTAssertEqual(u, 512 * 1024 / rate + 512 * 8 * 256 / (rate * 0.5), accuracy: 1e-15)
    }
}
