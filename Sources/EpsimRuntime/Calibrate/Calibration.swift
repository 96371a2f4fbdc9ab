import EpsimCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `epsim calibrate`: measures this host on the run's own transport (the all-to-allv
/// sweep, the expert FFN through the project's BLAS, memcpy) and fits the target-system
/// parameters to it, so that a layout can be modeled on the machine it ran on
/// (../shared/DESIGN.md, "Target system"). Measured after the OSU micro-benchmarks:
/// warm-up iterations discarded, a barrier outside each timed region, every rank's
/// figures gathered to rank 0 and averaged across ranks, medians of repeats.
public enum Calibration {
    public struct Options: Sendable, Equatable {
        /// Fewer sizes, rows and iterations (still real measurements), for tests.
        public var quick: Bool
        /// The largest all-to-allv message, bytes per peer.
        public var maxBytes: Int
        /// Repeats of every measurement; the reported figure is their median.
        public var repeats: Int
        /// The expert shapes (H, F) timed for the efficiency table.
        public var shapes: [ExpertShape]

        /// Seconds of expert FFN before each call of the combine's sweep: about the
        /// expert phase of the layer to be modeled (`--expert-ms`).
        public var expertSeconds: Double

        public init(quick: Bool = false, maxBytes: Int? = nil, repeats: Int? = nil,
                    shapes: [ExpertShape] = Calibration.defaultShapes, expertSeconds: Double? = nil) {
            self.quick = quick
            self.maxBytes = maxBytes ?? (quick ? 1 << 20 : 4 << 20)
            self.repeats = repeats ?? (quick ? 3 : 5)
            self.shapes = shapes
            self.expertSeconds = expertSeconds ?? Calibration.defaultExpertSeconds
        }

        /// Bytes per peer of the dispatch's sweep: powers of two from 8 up to
        /// `maxBytes`, every one (every other one when quick).
        public var sizes: [Int] { sizes(.afterPermute) }

        /// Bytes per peer of a sweep: 8 × 2^i up to `maxBytes` (8 × 4^i when quick), both
        /// sweeps alike, so that the model interpolates the combine's as finely as the
        /// dispatch's; the combine's then `maxBytes` itself when that is not among them.
        /// Empty below 8.
        func sizes(_ state: CalibrationBench.SweepState) -> [Int] {
            let step = quick ? 4 : 2
            var out = Array(sequence(first: Calibration.minBytes) { $0 * step }.prefix { $0 <= maxBytes })
            if state == .afterExperts, let last = out.last, last < maxBytes { out.append(maxBytes) }
            return out
        }

        /// Rows n of the expert sweep: 1, 2, 4 … 4096 (… 512 when quick).
        public var rows: [Int] {
            Array(sequence(first: 1) { $0 * 2 }.prefix { $0 <= (quick ? 512 : 4096) })
        }
    }

    /// One expert width.
    public struct ExpertShape: Sendable, Equatable, Hashable {
        public var hidden: Int
        public var ffn: Int
        public init(hidden: Int, ffn: Int) {
            self.hidden = hidden
            self.ffn = ffn
        }
    }

    /// The combine sweep's expert FFN before each call by default, seconds: about the
    /// expert phase of configs/default.yaml's shape at 512 tokens per rank on the
    /// 2-core machine this was written on (6–8 ms), between the 4 and 16 ms after which
    /// an exchange there took 0.8× and 1.2× the eviction's.
    public static let defaultExpertSeconds = 0.008
    /// `--expert-ms`'s range, milliseconds.
    public static let expertMillisRange = 0.1...100.0

    /// The smallest message of the sweep, bytes per peer.
    public static let minBytes = 8
    /// `--max-bytes`'s range: 8 B … 256 MiB per peer.
    public static let maxBytesRange = minBytes...(256 << 20)
    /// `--repeats`'s range.
    public static let repeatsRange = 1...1000
    /// The most memory the sweep's buffers may take on the host (both buffers of every
    /// rank, 2·P·max-bytes each: all ranks run on the host calibrated).
    public static let bufferLimit = 4 << 30

    /// The expert widths timed by default: the default config's (`ModelConfig()`) and
    /// configs/mixtral.yaml's (H 256, F 896 = 3.5 × H).
    public static let defaultShapes: [ExpertShape] = {
        let defaults = ModelConfig()
        let shapes = [ExpertShape(hidden: defaults.hidden, ffn: defaults.ffn), ExpertShape(hidden: 256, ffn: 896)]
        return shapes.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }()

    /// Calibration refused before anything is measured.
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Measures and fits. Collective: every rank measures; the result is on rank 0, nil
    /// elsewhere. Fails on every rank (`ReportedFailure`, the reason printed once) for a
    /// world of one rank, whose all-to-allv has no link to measure, for buffers beyond
    /// `bufferLimit`, and for a sweep the link model cannot be fitted to.
    public static func run(_ transport: any Transport, options: Options) throws -> CalibrationResult? {
        let started = monotonicSeconds()
        let hosts = try transport.gatherArrays(Array(transport.hostName.utf8)).map { String(decoding: $0, as: UTF8.self) }
        try Launcher.agree(transport) { try check(options, ranks: transport.size, hosts: hosts) }
        var samples = CalibrationSamples()
        samples.host = transport.rank == 0 ? HostLoad.current() : nil
        let dispatch = try CalibrationBench.alltoallv(transport, options: options, state: .afterPermute)
        let combine = try CalibrationBench.alltoallv(transport, options: options, state: .afterExperts)
        samples.dispatchSweep = dispatch.seconds
        samples.combineSweep = combine.seconds
        samples.sweepStateSeconds = [dispatch.before, combine.before]
        samples.expert = try CalibrationBench.expert(transport, options: options)
        samples.launch = try CalibrationBench.launch(transport, options: options)
        samples.memcpy = try CalibrationBench.copyRate(transport, options: options)
        samples.phases = try LayerPhaseBench.run(transport, options: options)
        let all = try samples.gathered(transport)
        // The fit can fail (a sweep whose times do not grow with size): rank 0 says so
        // once and every rank exits non-zero.
        return try Launcher.agree(transport) {
            try all.map {
                try CalibrationResult(samples: $0, options: options, ranks: transport.size, transport: transport,
                                      seconds: monotonicSeconds() - started)
            }
        }
    }

    /// The checks `run` agrees on before measuring: at least two ranks, all on one host
    /// (`hosts`: every rank's host name on rank 0, empty elsewhere), and sweep buffers
    /// within `bufferLimit` on that host.
    static func check(_ options: Options, ranks: Int, hosts: [String]) throws {
        guard ranks >= 2 else {
            throw SetupError(description: "calibrate measures the all-to-allv between ranks and needs at least 2 "
                             + "(mpirun -n 2 epsim calibrate, or epsim calibrate --emulate 2); this world has \(ranks)")
        }
        let distinct = hosts.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        if distinct.count > 1 {
            let named = distinct.prefix(4).joined(separator: ", ") + (distinct.count > 4 ? ", ..." : "")
            throw SetupError(description: "calibrate measures one host, but the ranks run on \(distinct.count) "
                             + "(\(named)); start every rank on one node")
        }
        // The sweep's buffers, and beside them each rank's eviction, copy and expert buffers.
        let others = ranks * (CalibrationBench.evictionBytes(ranks: ranks) + 2 * CalibrationBench.memcpyBytes(ranks: ranks)
                              + ExpertPhase.bytes(options.shapes[0]))
        let total = ranks * 2 * ranks * options.maxBytes
        if total + others > bufferLimit {
            throw SetupError(description: "--max-bytes \(options.maxBytes): the all-to-allv buffers of \(ranks) ranks "
                             + "take \(byteText(total)) on this host (2 × ranks × max-bytes per rank), with "
                             + "\(byteText(others)) of cache-eviction, memcpy and expert buffers more than the limit of "
                             + "\(byteText(bufferLimit)); lower --max-bytes")
        }
    }
}
