import EpsimCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One rank's measurements, and after `gathered` every rank's on rank 0 (rank after
/// rank, each rank's block laid out as on one rank).
struct CalibrationSamples {
    /// Mean seconds per all-to-allv, [repeats × sizes] (repeat-major): the dispatch's
    /// sweep, and the combine's (after the expert FFN) on its own sizes.
    var dispatchSweep: [Double] = []
    var combineSweep: [Double] = []
    /// Mean seconds of the work before each call of the two sweeps (the eviction, the
    /// expert phase): two values.
    var sweepStateSeconds: [Double] = []
    /// Median seconds per expert call, [shapes × rows] (shape-major).
    var expert: [Double] = []
    /// Median seconds per expert call of a 1 × 1 expert at n = 1: one value.
    var launch: [Double] = []
    /// Median memcpy rate per size of `CalibrationBench.copySizes`, bytes per second
    /// counting reads plus writes.
    var memcpy: [Double] = []
    /// Median seconds per step of the permute and of the unpermute phase of a layer run
    /// (`LayerPhaseBench`), and the rows sent per step: three values.
    var phases: [Double] = []
    /// Rank 0's host before measuring (nil elsewhere).
    var host: HostLoad? = nil

    /// Every rank's samples on rank 0; nil elsewhere. Collective.
    func gathered(_ transport: any Transport) throws -> CalibrationSamples? {
        var out = CalibrationSamples(dispatchSweep: try transport.gather(dispatchSweep),
                                     combineSweep: try transport.gather(combineSweep),
                                     sweepStateSeconds: try transport.gather(sweepStateSeconds),
                                     expert: try transport.gather(expert),
                                     launch: try transport.gather(launch), memcpy: try transport.gather(memcpy),
                                     phases: try transport.gather(phases))
        out.host = host
        return transport.rank == 0 ? out : nil
    }
}

/// The bare measurements, each on every rank at once (the host as a run would load it).
enum CalibrationBench {
    /// What each iteration of a sweep does before its timed call, standing for the
    /// phase a layer's exchange follows.
    enum SweepState: Sendable {
        /// The dispatch's: every rank reads `evictionBytes` (the receive buffers, the
        /// library's own buffers and the page-table entries leave the caches), then
        /// writes its send rows (as permute does just before the call).
        case afterPermute
        /// The combine's: every rank runs `ExpertPhase` (the expert FFN through the
        /// layer's code path, 4 experts of the first calibrated shape in turn, 256 rows
        /// each) for `Options.expertSeconds`, then writes its send rows (as the experts
        /// write their outputs).
        case afterExperts

        /// Warm-up and timed iterations of every size. Each iteration of the dispatch
        /// sweep first evicts the caches (`evictionBytes`, milliseconds), each of the
        /// combine sweep runs `Options.expertSeconds` of expert FFN: longer than any call
        /// of the default sweep (4 MiB per peer), so every size takes as many: fewer than
        /// osu_alltoallv's 200 for small messages, whose spread the median of the repeats
        /// absorbs. The combine's sweep has no fewer iterations with `--quick` (on a
        /// loaded host 5 left too little to fit a line to).
        func iterations(quick: Bool) -> (warmup: Int, timed: Int) {
            switch self {
            case .afterPermute: return quick ? (1, 10) : (2, 20)
            case .afterExperts: return (1, 10)
            }
        }

        /// How errors name the sweep.
        var name: String {
            switch self {
            case .afterPermute: return "after the cache eviction (the dispatch's)"
            case .afterExperts: return "after the experts (the combine's)"
            }
        }
    }

    /// A sweep: every size sends `size` bytes to every rank (itself included, as
    /// osu_alltoallv does) through the transport's all-to-allv on wire buffers, the
    /// call the layer's dispatch and combine make. Per size, the mean over the timed
    /// iterations of the time of the call alone, a barrier between iterations. The
    /// whole sweep is repeated, so that drift touches every size alike.
    ///
    /// Each iteration runs in the state one of the layer's exchanges finds the host in
    /// (`state`), not in an OSU tight loop's. On the machine this was written on, a
    /// 256 KiB-per-peer exchange under Open MPI takes 37 µs in a tight loop, about 65 µs
    /// after the eviction, 50 µs after 4 ms of expert FFN and 75–80 µs after 16 ms; in
    /// two validation runs the layer's dispatch matched the eviction's sweep (within
    /// ±12 %) and its combine, after 6–8 ms of experts, was 30–40 % slower in every
    /// layout (docs/model.md, "This host").
    ///
    /// The work before the call ends in a barrier of its own, then the send rows are
    /// written, then the barrier before the call: the ranks finish the eviction or the
    /// expert phase up to milliseconds apart, and under the emulated transport, whose
    /// waits sleep, a rank that slept that long wakes tens of µs late, inside the timed
    /// call; the layer's ranks reach the barrier before an exchange within µs of each
    /// other. Without it the emulated sweep was 35–75 % slower than the layer's
    /// exchanges; with it 2–28 % (MPI's waits poll, and it made no difference there).
    ///
    /// Returns the mean seconds per call, [repeats × sizes] (repeat-major), and the mean
    /// seconds each iteration spent in its state's work before the call.
    static func alltoallv(_ transport: any Transport, options: Calibration.Options,
                          state: SweepState) throws -> (seconds: [Double], before: Double) {
        let P = transport.size, sizes = options.sizes(state)
        let largest = sizes.last ?? 0
        let send = WireBuffer(bytes: P * largest), recv = WireBuffer(bytes: P * largest)
        let before: () -> Void
        switch state {
        case .afterPermute:
            let eviction = CacheEviction(bytes: evictionBytes(ranks: P))
            before = eviction.run
        case .afterExperts:
            let experts = ExpertPhase(shape: options.shapes[0], seconds: options.expertSeconds)
            before = experts.run
        }
        var out: [Double] = []
        out.reserveCapacity(options.repeats * sizes.count)
        var spent = 0.0, runs = 0
        for _ in 0..<options.repeats {
            for size in sizes {
                var bytes = ExchangeBytes(ranks: P)
                for p in 0..<P {
                    bytes.sendBytes[p] = size
                    bytes.recvBytes[p] = size
                    bytes.sendDispls[p] = p * size
                    bytes.recvDispls[p] = p * size
                }
                let (warmup, timed) = state.iterations(quick: options.quick)
                var total = 0.0
                for i in 0..<(warmup + timed) {
                    let started = monotonicSeconds()
                    before()
                    spent += monotonicSeconds() - started
                    runs += 1
                    // The ranks end that work milliseconds apart; this barrier takes the
                    // difference, so that the one before the call releases ranks that
                    // arrive together, as the layer's do (see the doc comment).
                    try transport.barrier()
                    send.withUnsafeMutableBytes { raw in
                        _ = memset(raw.baseAddress!, Int32(1 + (transport.rank + i) % 255), P * size)
                    }
                    try transport.barrier()
                    let start = monotonicSeconds()
                    try transport.alltoallv(send: send, recv: recv, bytes: bytes)
                    let elapsed = monotonicSeconds() - start
                    if i >= warmup { total += elapsed }
                }
                out.append(total / Double(timed))
            }
        }
        return (out, spent / Double(max(1, runs)))
    }

    /// Bytes each rank reads before every iteration of the sweep to push the caches
    /// out: as much as the memcpy streams (`memcpyBytes`), twice the L3 of the machines
    /// this was written on.
    static func evictionBytes(ranks: Int) -> Int {
        return memcpyBytes(ranks: ranks)
    }

    /// Seconds per call of each of `points` operations (`body(i)` runs operation i
    /// once), every rank calling it at once: one untimed call of each, which also sets
    /// how many calls fill `target` seconds on the slowest rank (at least one); then
    /// `repeats` passes over all the points, each timing one batch of every point, a
    /// barrier before each batch. The median of a point's batches is its figure: the
    /// passes spread its repeats over the whole measurement, so a burst of load on a
    /// shared host touches one repeat of several points, not every repeat of one.
    static func perCall(_ transport: any Transport, points: Int, repeats: Int, target: Double,
                        maxCalls: Int = 100_000, _ body: (Int) -> Void) throws -> [Double] {
        var first = [Double](repeating: 0, count: points)
        for i in 0..<points {
            let start = monotonicSeconds()
            body(i)
            first[i] = monotonicSeconds() - start
        }
        let calls = try transport.allreduce(first, op: .max).map { max(1, min(maxCalls, Int(target / max($0, 1e-9)))) }
        var times = [[Double]](repeating: [], count: points)
        for _ in 0..<repeats {
            for i in 0..<points {
                try transport.barrier()
                let t0 = monotonicSeconds()
                for _ in 0..<calls[i] { body(i) }
                times[i].append((monotonicSeconds() - t0) / Double(calls[i]))
            }
        }
        return times.map(median)
    }

    /// The expert FFN through `ExpertCompute.apply` (x·W1, x·W3, SwiGLU, ·W2: the
    /// layer's own code path) for every shape and row count, shape-major.
    static func expert(_ transport: any Transport, options: Calibration.Options) throws -> [Double] {
        let experts = options.shapes.map(expertSetup)
        let points = options.shapes.indices.flatMap { s in options.rows.map { (shape: s, rows: $0) } }
        let widest = (options.rows.max() ?? 1) * (options.shapes.map(\.hidden).max() ?? 1)
        let x = (0..<widest).map { Float(($0 % 17) - 8) / 8 }
        var y = [Float](repeating: 0, count: widest)
        return try x.withUnsafeBufferPointer { xp in
            try y.withUnsafeMutableBufferPointer { yp in
                try perCall(transport, points: points.count, repeats: options.repeats,
                            target: options.quick ? 0.002 : 0.01) { i in
                    let (compute, weights) = experts[points[i].shape]
                    compute.apply(weights, x: xp, rows: points[i].rows, into: yp)
                }
            }
        }
    }

    /// One expert call on a 1 × 1 expert at n = 1: the three sgemm calls, the
    /// activation and the bookkeeping with next to no arithmetic, i.e. the fixed cost
    /// of a call, which no shape removes (the host's counterpart of a kernel launch).
    static func launch(_ transport: any Transport, options: Calibration.Options) throws -> [Double] {
        let (compute, weights) = expertSetup(Calibration.ExpertShape(hidden: 1, ffn: 1))
        let x: [Float] = [0.5]
        var y: [Float] = [0]
        let seconds = try x.withUnsafeBufferPointer { xp in
            try y.withUnsafeMutableBufferPointer { yp in
                try perCall(transport, points: 1, repeats: options.repeats,
                            target: options.quick ? 0.002 : 0.02) { _ in
                    compute.apply(weights, x: xp, rows: 1, into: yp)
                }
            }
        }
        return seconds
    }

    /// A compute context and one expert's weights (SwiGLU, as both default shapes are).
    private static func expertSetup(_ shape: Calibration.ExpertShape) -> (ExpertCompute, ExpertWeights) {
        let (compute, weights) = expertSetup(shape, experts: 1)
        return (compute, weights[0])
    }

    /// A compute context and the weights of `experts` SwiGLU experts, each its own.
    static func expertSetup(_ shape: Calibration.ExpertShape, experts: Int) -> (ExpertCompute, [ExpertWeights]) {
        var model = ModelConfig()
        model.hidden = shape.hidden
        model.ffn = shape.ffn
        model.activation = .swiglu
        return (ExpertCompute(hidden: shape.hidden, ffn: shape.ffn),
                (0..<experts).map { ExpertWeights(seed: 1, layer: 0, expert: $0, model: model) })
    }

    /// Bytes one rank copies per memcpy: 64 MiB, twice the L3 of the machines this
    /// was written on, so the copy streams from memory; less with many ranks (all on
    /// this host: at most 1 GiB of sources and destinations in all, at least 4 MiB each).
    static func memcpyBytes(ranks: Int) -> Int {
        max(4 << 20, min(64 << 20, (1 << 30) / (2 * ranks)))
    }

    /// Bytes per memcpy of the copy-rate table: 64 KiB, 256 KiB, 1 MiB, 4 MiB and 16 MiB
    /// (a working set in the L2, the L3, and past it, on the machines this was written
    /// on), then `memcpyBytes` (streaming from memory: `hbm_gbps`).
    static func copySizes(ranks: Int) -> [Int] {
        let largest = memcpyBytes(ranks: ranks)
        return [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20].filter { $0 < largest } + [largest]
    }

    /// memcpy between two buffers of each of `copySizes`, every rank at once: bytes per
    /// second counting reads plus writes (2 × bytes per copy), median of the repeats.
    /// The buffers are copied back and forth, so each copy's source is the last one's
    /// destination: in cache when the two fit.
    static func copyRate(_ transport: any Transport, options: Calibration.Options) throws -> [Double] {
        let sizes = copySizes(ranks: transport.size)
        let largest = sizes.last!
        let a = WireBuffer(bytes: largest), b = WireBuffer(bytes: largest)
        a.withUnsafeMutableBytes { raw in _ = memset(raw.baseAddress!, 0x5A, raw.count) }
        b.withUnsafeMutableBytes { raw in _ = memset(raw.baseAddress!, 0xA5, raw.count) }
        var forward = true
        let seconds = try a.withUnsafeMutableBytes { x in
            try b.withUnsafeMutableBytes { y in
                try perCall(transport, points: sizes.count, repeats: max(3, options.repeats),
                            target: options.quick ? 0.01 : 0.05) { i in
                    if forward {
                        _ = memcpy(y.baseAddress!, x.baseAddress!, sizes[i])
                    } else {
                        _ = memcpy(x.baseAddress!, y.baseAddress!, sizes[i])
                    }
                    forward.toggle()
                }
            }
        }
        return zip(sizes, seconds).map { 2 * Double($0) / $1 }
    }
}

/// A buffer read line by line to push a rank's data out of the caches: the state in
/// which a sweep's calls take what the layer's dispatch does (`SweepState.afterPermute`).
final class CacheEviction {
    private let buffer: WireBuffer
    /// Folded from what was read, so the reads are not optimized away.
    private(set) var checksum: UInt64 = 0

    init(bytes: Int) {
        buffer = WireBuffer(bytes: bytes)
        buffer.withUnsafeMutableBytes { raw in _ = memset(raw.baseAddress!, 0x3C, raw.count) }
    }

    /// Reads one word of every 64-byte line.
    func run() {
        var sum: UInt64 = 0
        buffer.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            var i = 0
            while i < words.count {
                sum &+= words[i]
                i += 8
            }
        }
        checksum &+= sum
    }
}

/// The expert FFN run for a while, as a layer's expert phase runs before its combine
/// (`SweepState.afterExperts`): `experts` SwiGLU experts of `shape`, each with its own
/// weights, `rows` rows each through `ExpertCompute.apply`, one after another (the
/// layer's loop), again until `seconds` have passed: it ends with the call that passes
/// them, so it runs up to one call longer (1.7 ms at the default width here; the sweep
/// reports the time it ran). The default config on 2 ranks: 4 local experts, 1,024 rows
/// per rank.
final class ExpertPhase {
    static let experts = 4
    static let rows = 256
    private let compute: ExpertCompute
    private let weights: [ExpertWeights]
    private let x: [Float]
    private var y: [Float]
    private let seconds: Double

    /// Bytes one rank's phase holds: the experts' weights, the input and output rows (H
    /// floats each) and `ExpertCompute`'s scratch.
    static func bytes(_ shape: Calibration.ExpertShape) -> Int {
        experts * ExpertWeights.bytes(hidden: shape.hidden, ffn: shape.ffn, activation: .swiglu)
            + rows * 2 * shape.hidden * 4 + ExpertCompute.scratchBytes(rows: rows, ffn: shape.ffn)
    }

    init(shape: Calibration.ExpertShape, seconds: Double) {
        (compute, weights) = CalibrationBench.expertSetup(shape, experts: Self.experts)
        x = (0..<(Self.rows * shape.hidden)).map { Float(($0 % 13) - 6) / 8 }
        y = [Float](repeating: 0, count: Self.rows * shape.hidden)
        self.seconds = seconds
    }

    func run() {
        let start = monotonicSeconds()
        var e = 0
        repeat {
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in compute.apply(weights[e], x: xp, rows: Self.rows, into: yp) }
            }
            e = (e + 1) % Self.experts
        } while monotonicSeconds() - start < seconds
    }
}
