import EpsimCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `epsim calibrate` found, reduced on rank 0: the tables (averages across ranks,
/// medians of repeats), the fitted link, and the system file they make.
public struct CalibrationResult {
    /// One message size of the all-to-allv sweep.
    public struct SweepRow: Sendable, Equatable {
        /// Bytes sent to each peer (itself included).
        public var size: Int
        /// Bytes one rank sends over the link (and receives), size × (P − 1): what the
        /// target-system model charges to the link's bandwidth.
        public var linkBytes: Int
        /// Seconds per call: the average across ranks, and the fastest and slowest
        /// rank's (each the median of the repeats).
        public var average: Double
        public var minimum: Double
        public var maximum: Double
        public var warmup: Int
        public var iterations: Int
    }

    /// One expert FFN measurement: seconds per call, averaged across ranks.
    public struct ExpertRow: Sendable, Equatable {
        public var rows: Int
        public var hidden: Int
        public var ffn: Int
        public var seconds: Double
        /// 6·n·H·F (SwiGLU: three products of 2·n·H·F).
        public var flops: Double { 6 * Double(rows) * Double(hidden) * Double(ffn) }
    }

    public let options: Calibration.Options
    public let ranks: Int
    /// "mpi" or "emulated", and the library underneath.
    public let transportKind: String
    public let library: String
    public let hostName: String
    /// UTC, ISO 8601, when the result was reduced.
    public let date: String
    /// The host before measuring: a host busy with other work measures slow.
    public let host: HostLoad
    /// Seconds the measurements took (rank 0's clock).
    public let seconds: Double

    /// One sweep reduced: its rows, the link fitted to them, and the fit's relative
    /// error at each size.
    public struct SweepFit: Sendable, Equatable {
        public var rows: [SweepRow]
        public var fit: LinkFit
        public var errors: [Double]
        public var medianError: Double { median(errors) }
        public var maxError: Double { errors.max() ?? 0 }
        /// Its median error exceeds `CalibrationResult.poorFitError`.
        public var isPoor: Bool { medianError > CalibrationResult.poorFitError }
        /// "latency 8.236 us, bandwidth 6.840 GB/s".
        public var summary: String {
            "latency \(String(format3: fit.latencySeconds * 1e6)) us, bandwidth \(String(format3: fit.bytesPerSecond / 1e9)) GB/s"
        }
        /// "median 14.91 %, max 57.88 %".
        public var errorSummary: String {
            "median \(String(format2: medianError * 100)) %, max \(String(format2: maxError * 100)) %"
        }
        /// The link's cost in a system file's units: the fit (µs, GB/s) and, as its
        /// `sweep`, each row's link bytes and Avg Latency.
        public var cost: LinkCost {
            LinkCost(gbps: fit.bytesPerSecond / 1e9, latencyMicros: fit.latencySeconds * 1e6,
                     sweep: rows.map { LinkTimePoint(bytes: Int64($0.linkBytes), micros: $0.average * 1e6) })
        }
    }

    /// The dispatch's sweep (each call after the eviction): the links' `gbps` and
    /// `latency_us`.
    public let dispatchSweep: SweepFit
    /// The combine's sweep (each call after `Options.expertSeconds` of expert FFN): the
    /// links' `after_experts`.
    public let combineSweep: SweepFit
    /// The work before each call of the two sweeps as it ran, seconds, averaged across
    /// ranks: the eviction's read, and the expert phase (at least `Options.expertSeconds`,
    /// since it ends with the expert call that passes it: `ExpertPhase`).
    public let evictionSeconds: Double
    public let expertPhaseSeconds: Double
    public let expert: [ExpertRow]
    /// Seconds of one call on a 1 × 1 expert at n = 1, averaged across ranks.
    public let launchSeconds: Double
    /// memcpy, bytes per second counting reads plus writes, averaged across ranks, per
    /// size (`CalibrationBench.copySizes`): the device's `copy_rates`.
    public let copyRates: [CopyRatePoint]
    /// The largest copy's rate (streaming from memory: `hbm_gbps`) and its bytes per call.
    public var copyRate: Double { copyRates.last!.gbps * 1e9 }
    public var copyBytes: Int { copyRates.last!.bytes }
    /// The permute and unpermute phases of one rank (`LayerPhaseBench`): median seconds
    /// per step, averaged across ranks, the rows a rank sends (averaged; the model's `rows`), and
    /// the width they were measured at.
    public let permuteSeconds: Double
    public let unpermuteSeconds: Double
    public let phaseRows: Int
    /// The assignments of the bench, T·k on every rank.
    public var phaseAssignments: Int { LayerPhaseBench.tokens * LayerPhaseBench.topK }
    public let phaseHidden: Int

    init(samples s: CalibrationSamples, options: Calibration.Options, ranks P: Int, transport: any Transport,
         seconds: Double) throws {
        self.options = options
        self.ranks = P
        transportKind = transport.kindName
        library = transport.libraryVersion
        hostName = transport.hostName
        date = utcDate()
        host = s.host ?? HostLoad.current()
        self.seconds = seconds

        dispatchSweep = try Self.reduce(s.dispatchSweep, options: options, state: .afterPermute, ranks: P)
        combineSweep = try Self.reduce(s.combineSweep, options: options, state: .afterExperts, ranks: P)
        let states = Self.meanAcrossRanks(s.sweepStateSeconds, ranks: P, values: 2, "sweep-state")
        (evictionSeconds, expertPhaseSeconds) = (states[0], states[1])

        let points = options.shapes.flatMap { shape in options.rows.map { (shape, $0) } }
        expert = zip(points, Self.meanAcrossRanks(s.expert, ranks: P, values: points.count, "expert")).map { point, mean in
            ExpertRow(rows: point.1, hidden: point.0.hidden, ffn: point.0.ffn, seconds: mean)
        }
        launchSeconds = Self.meanAcrossRanks(s.launch, ranks: P, values: 1, "launch")[0]
        let copySizes = CalibrationBench.copySizes(ranks: P)
        copyRates = zip(copySizes, Self.meanAcrossRanks(s.memcpy, ranks: P, values: copySizes.count, "memcpy")).map {
            CopyRatePoint(bytes: $0, gbps: $1 / 1e9)
        }
        let phases = Self.meanAcrossRanks(s.phases, ranks: P, values: 3, "phase")
        permuteSeconds = phases[0]
        unpermuteSeconds = phases[1]
        phaseRows = Int(phases[2].rounded())
        phaseHidden = Calibration.phaseHidden(options)
    }

    /// Every rank's `values` figures (gathered rank after rank) averaged across the `P`
    /// ranks, summed in rank order: `values` means.
    private static func meanAcrossRanks(_ samples: [Double], ranks P: Int, values n: Int, _ what: String) -> [Double] {
        precondition(samples.count == P * n, "calibrate: \(samples.count) \(what) samples for \(P)×\(n)")
        return (0..<n).map { i in (0..<P).map { samples[$0 * n + i] }.reduce(0, +) / Double(P) }
    }

    /// One sweep's rows (every rank's samples, rank-major, each [repeats × sizes]),
    /// their fit, and the fit's relative error at each size. A sweep that cannot be
    /// fitted is named in the error.
    private static func reduce(_ samples: [Double], options: Calibration.Options, state: CalibrationBench.SweepState,
                               ranks P: Int) throws -> SweepFit {
        let sizes = options.sizes(state), R = options.repeats, S = sizes.count
        precondition(samples.count == P * R * S, "calibrate: \(samples.count) sweep samples for \(P)×\(R)×\(S)")
        let rows = sizes.enumerated().map { i, size in
            var average: [Double] = [], minimum: [Double] = [], maximum: [Double] = []
            for r in 0..<R {
                let perRank = (0..<P).map { samples[$0 * R * S + r * S + i] }
                average.append(perRank.reduce(0, +) / Double(P))
                minimum.append(perRank.min()!)
                maximum.append(perRank.max()!)
            }
            let (warmup, iterations) = state.iterations(quick: options.quick)
            return SweepRow(size: size, linkBytes: size * (P - 1), average: median(average), minimum: median(minimum),
                            maximum: median(maximum), warmup: warmup, iterations: iterations)
        }
        let x = rows.map { Double($0.linkBytes) }, t = rows.map(\.average)
        let fit: LinkFit
        do {
            fit = try LinkFit.fit(bytes: x, seconds: t)
        } catch let error as LinkFit.FitError {
            throw LinkFit.FitError(description: "the all-to-allv sweep \(state.name): \(error.description)")
        }
        return SweepFit(rows: rows, fit: fit, errors: fit.relativeErrors(bytes: x, seconds: t))
    }

    // MARK: the per-row costs

    /// The host as the model sees its byte terms: the memcpy rates, fp32 compute, no
    /// kernel cost.
    var byteModel: DeviceModel {
        var d = DeviceSpec(bf16TFLOPS: 1, hbmGBps: copyRates.last!.gbps, launchMicros: 0, execution: .loop)
        d.copyRates = copyRates
        d.computeBytes = Self.hostComputeBytes
        return DeviceModel(device: d)
    }

    /// Bytes of one activation value on this host: it computes in fp32.
    public static let hostComputeBytes = 4

    /// The fp32 wire rows of `LayerPhaseBench` (the default config's precisions).
    var phaseRowBytes: (dispatch: Int, combine: Int) {
        let p = PrecisionConfig()
        return (WireCodec.bytesPerRow(p.dispatch, hidden: phaseHidden), WireCodec.bytesPerRow(p.combine, hidden: phaseHidden))
    }

    /// Seconds of the model's byte terms at the measured rows: what the per-row costs are measured beyond.
    public var permuteByteSeconds: Double {
        byteModel.permuteByteSeconds(rows: phaseRows, hidden: phaseHidden, wireRowBytes: phaseRowBytes.dispatch)
    }
    public var unpermuteByteSeconds: Double {
        byteModel.unpermuteByteSeconds(rows: phaseRows, hidden: phaseHidden, combineRowBytes: phaseRowBytes.combine)
    }

    /// `permute_row_ns` and `unpermute_row_ns`: the measured phase less its byte term, per row.
    /// The permute's is paid per assignment (T·k, as `StepModel` charges it), the
    /// unpermute's per row sent.
    public var permuteRowNanos: Double {
        DeviceModel.rowNanos(seconds: permuteSeconds, rows: phaseAssignments, byteSeconds: permuteByteSeconds)
    }
    public var unpermuteRowNanos: Double {
        DeviceModel.rowNanos(seconds: unpermuteSeconds, rows: phaseRows, byteSeconds: unpermuteByteSeconds)
    }

    // MARK: the system

    /// A row's device time, launches excluded (the efficiency table's `ms`), seconds:
    /// its time less `launchSeconds`, or its whole time should noise make that ≤ 0.
    public func deviceSeconds(_ row: ExpertRow) -> Double {
        row.seconds > launchSeconds ? row.seconds - launchSeconds : row.seconds
    }

    /// The best rate of the expert table, FLOP/s (on device time).
    public var bestFLOPS: Double {
        expert.map { $0.flops / deviceSeconds($0) }.max() ?? 0
    }

    /// The system file's content.
    public var system: SystemSpec {
        let link = LinkSpec(dispatchSweep.cost, efficiency: 1, afterExperts: combineSweep.cost)
        let points = expert.map {
            EfficiencyPoint(rows: $0.rows, hidden: $0.hidden, ffn: $0.ffn, milliseconds: deviceSeconds($0) * 1e3)
        }
        var device = DeviceSpec(bf16TFLOPS: bestFLOPS / 1e12, gemmEfficiency: 1, hbmGBps: copyRates.last!.gbps,
                                launchMicros: launchSeconds * 1e6, execution: .loop, efficiency: points)
        device.computeBytes = Self.hostComputeBytes
        device.copyRates = copyRates
        device.permuteRowNanos = permuteRowNanos
        device.unpermuteRowNanos = unpermuteRowNanos
        return SystemSpec(name: hostName, devicesPerNode: ranks, device: device, intraNode: link, interNode: link,
                          allToAll: .flat)
    }

    /// The system file: the header comment, then `system`'s keys.
    public var yaml: String { system.yamlText(header: header) }
}

/// The current time, UTC, as 2026-11-30T01:02:03Z.
func utcDate() -> String {
    var now = time(nil), parts = tm()
    gmtime_r(&now, &parts)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
