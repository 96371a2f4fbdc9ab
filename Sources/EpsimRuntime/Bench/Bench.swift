import EpsimCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `epsim bench`: the layer's phases beside baselines measured in the same run, on the
/// same buffers, for exactly the work the layer did in its last counted step (after the
/// OSU micro-benchmarks: warm-up iterations discarded, a barrier outside each timed
/// region, every rank's samples reduced to median/min/max on rank 0).
public enum Bench {
    public struct Options: Sendable {
        /// Timed iterations per baseline, after `warmup` untimed ones.
        public var iterations = 50
        public var warmup = 5
        /// Extra steps run to show that resident memory stays flat (0: skip).
        public var memorySteps = 1000

        public init(iterations: Int = 50, warmup: Int = 5, memorySteps: Int = 1000) {
            self.iterations = iterations
            self.warmup = warmup
            self.memorySteps = memorySteps
        }
    }

    /// Runs `config` with `--sync` (so dispatch and combine are transfer time, not
    /// waiting for the slowest rank) and then its baselines. Collective; the report on
    /// rank 0, nil elsewhere.
    /// With `system`, every phase is also modeled on it and the report puts the modeled
    /// times beside the measured ones (`BenchReport.modeledRows`).
    public static func run(_ config: SimConfig, transport: any Transport, options: Options,
                           system: SystemSpec? = nil) throws -> BenchReport? {
        // Read before anything of ours runs: other work on the host skews every ratio.
        let host = HostLoad.current()
        var samples = BaselineSamples()
        var memory = MemoryCheck.none
        var settings = Simulation.Settings(sync: true, progress: true)
        settings.recordLastStep = true
        settings.system = system
        let result = try Simulation.execute(config, transport: transport, settings: settings) { finished in
            samples = try measure(finished, transport: transport, options: options)
            memory = try checkMemory(finished.rank, transport: transport, steps: options.memorySteps,
                                     from: config.warmupSteps + config.steps)
        }
        let gathered = try samples.gathered(transport)
        let resident = try transport.allreduce([memory.residentBefore, memory.residentMiddle, memory.residentAfter], op: .sum)
        guard let result, let gathered else { return nil }
        return BenchReport(result: result, samples: gathered, options: options, host: host,
                           memory: MemoryCheck(steps: memory.steps, residentBefore: resident[0], residentMiddle: resident[1],
                                               residentAfter: resident[2]))
    }

    // MARK: baselines

    /// The bare operations the layer's parts are compared with.
    public enum Baseline: Int, CaseIterable, Sendable {
        /// Every recorded dispatch as its bare counts exchange and one bare all-to-allv
        /// of its payload, every recorded combine as one bare all-to-allv (hot buffers,
        /// back to back, as the OSU micro-benchmarks time them).
        case exchange
        /// The same exchanges, each iteration after the layer's expert sgemm calls
        /// (untimed): the cache state the layer's own exchanges start from.
        case exchangeAfterExperts
        /// Every recorded expert block as bare sgemm calls.
        case sgemm
        /// The permute and unpermute bytes as memcpy.
        case memcpy
        /// The gate product as a bare sgemm (gating workload).
        case gating
    }

    /// The stages whose own times the report lists: the permute and unpermute work.
    public static let permuteStages: [Stage] = [.capacity, .dispatchPreprocess, .dispatchPostprocess,
                                                .combinePreprocess, .combinePostprocess]

    /// Samples on one rank, and after `gathered` on rank 0 for every rank: seconds per
    /// iteration of each baseline, and seconds per counted step of each permute stage
    /// (summed over layers), measured inside the layer's own steps.
    struct BaselineSamples {
        var baselines: [Baseline: [Double]] = [:]
        var stages: [Stage: [Double]] = [:]

        /// Every rank's samples on rank 0, rank after rank; nil elsewhere. Collective.
        func gathered(_ transport: any Transport) throws -> BaselineSamples? {
            var out = BaselineSamples()
            for b in Baseline.allCases { out.baselines[b] = try transport.gather(baselines[b] ?? []) }
            for s in Bench.permuteStages { out.stages[s] = try transport.gather(stages[s] ?? []) }
            return transport.rank == 0 ? out : nil
        }
    }

    /// Times `iterations` runs of `body` after `warmup` untimed ones; `before` and then
    /// a barrier run ahead of each, outside the timed region.
    private static func time(_ transport: any Transport, _ options: Options, progress: ProgressLine?,
                             before: () throws -> Void = {}, _ body: () throws -> Void) throws -> [Double] {
        defer { progress?.advance() }
        var out: [Double] = []
        out.reserveCapacity(options.iterations)
        for i in 0..<(options.warmup + options.iterations) {
            try before()
            try transport.barrier()
            let start = monotonicSeconds()
            try body()
            let elapsed = monotonicSeconds() - start
            if i >= options.warmup { out.append(elapsed) }
        }
        return out
    }

    static func measure(_ finished: Simulation.Finished, transport: any Transport, options: Options) throws -> BaselineSamples {
        guard let shapes = finished.shapes else { return BaselineSamples() }
        let moe = finished.rank, c = moe.config, H = c.model.hidden, F = c.model.ffn
        var samples = BaselineSamples()
        let progress = transport.rank == 0 ? ProgressLine(total: Baseline.allCases.count, unit: "baseline", label: "bench") : nil
        defer { progress?.finish() }

        // The permute stages as the layer ran them, per counted step.
        let timer = finished.timer, count = Stage.allCases.count
        for s in permuteStages {
            samples.stages[s] = (0..<timer.steps).map { timer.stageSeconds[$0 * count + s.rawValue] }
        }

        // Experts: the same sgemm calls (x·W1, x·W3 for SwiGLU, h·W2) on the received
        // rows and the experts' own weights, without the activation and the bookkeeping.
        let widest = shapes.expertBlocks.map { $0.rows }.max() ?? 0
        var scratchA = [Float](repeating: 0, count: max(1, widest * F))
        var scratchY = [Float](repeating: 0, count: max(1, widest * H))
        // The input rows: the last layer's received rows where they are the block's own,
        // else (earlier layers, whose rows are gone) the widest block's worth of them.
        // Worked out before the timed region, which then only calls sgemm.
        let decoded = moe.dispatchers.map { $0.lastDecodedRows }
        var stand = [Float](repeating: 0, count: max(1, widest * H))
        let first = (decoded.first ?? []).prefix(stand.count)
        stand.replaceSubrange(0..<first.count, with: first)
        let lastLayer = c.model.layers - 1
        var offsets = [Int](repeating: 0, count: moe.dispatchers.count)
        let blocks = shapes.expertBlocks.compactMap { b -> (w: ExpertWeights, x: [Float], start: Int, rows: Int)? in
            let own = b.layer == lastLayer, start = own ? offsets[b.chunk] : 0
            if own { offsets[b.chunk] += b.rows }
            guard b.rows > 0 else { return nil }
            return (moe.localWeights(layer: b.layer, expert: b.localExpert), own ? decoded[b.chunk] : stand, start, b.rows)
        }
        func experts() {
            for (w, input, start, n) in blocks {
                input.withUnsafeBufferPointer { xAll in
                    let x = UnsafeBufferPointer(rebasing: xAll[(start * H)..<((start + n) * H)])
                    scratchA.withUnsafeMutableBufferPointer { aAll in
                        let a = UnsafeMutableBufferPointer(rebasing: aAll[0..<(n * F)])
                        w.w1.withUnsafeBufferPointer { BLAS.sgemm(m: n, n: F, k: H, x, $0, a) }
                        if w.activation == .swiglu {
                            w.w3.withUnsafeBufferPointer { BLAS.sgemm(m: n, n: F, k: H, x, $0, a) }
                        }
                        scratchY.withUnsafeMutableBufferPointer { yAll in
                            let y = UnsafeMutableBufferPointer(rebasing: yAll[0..<(n * H)])
                            w.w2.withUnsafeBufferPointer { BLAS.sgemm(m: n, n: H, k: F, UnsafeBufferPointer(a), $0, y) }
                        }
                    }
                }
            }
        }
        samples.baselines[.sgemm] = try time(transport, options, progress: progress, experts)

        // Dispatch + combine: each recorded dispatch as its counts exchange (the same
        // all-to-all of segment counts, on scratch) and its payload, each combine as its
        // payload, as bare all-to-allv calls of the same per-peer byte counts on the
        // dispatcher's own wire buffers. Then the same after the experts' sgemm.
        func exchanges() throws {
            for e in shapes.exchanges {
                let dispatcher = moe.dispatchers[e.chunk]
                if e.kind == .dispatch { try dispatcher.bareCountsExchange(transport: transport) }
                let (from, to) = dispatcher.wires(e.kind)
                try transport.alltoallv(send: from, recv: to, bytes: e.bytes)
            }
        }
        samples.baselines[.exchange] = try time(transport, options, progress: progress, exchanges)
        if !blocks.isEmpty {
            samples.baselines[.exchangeAfterExperts] = try time(transport, options, progress: progress, before: experts, exchanges)
        }

        // Permute + unpermute: one memcpy of the bytes those stages write, from one
        // buffer of that size into another (the stages' own footprint, so a copy that
        // fits a cache level the layer's buffers do not is not the baseline). Takes
        // 2 × their bytes: the order of the wire buffers and rows the layer holds.
        let bytes = shapes.permuteBytes + shapes.unpermuteBytes
        let source = [UInt8](repeating: 1, count: max(1, bytes))
        var target = [UInt8](repeating: 0, count: max(1, bytes))
        samples.baselines[.memcpy] = try time(transport, options, progress: progress) {
            source.withUnsafeBytes { from in
                target.withUnsafeMutableBytes { to in _ = memcpy(to.baseAddress!, from.baseAddress!, bytes) }
            }
        }

        // Route: the gate product x·Wg of the same shape, [T×H]·[H×E] (gating only).
        if case .gating = c.workload {
            let E = c.model.experts
            let gate = [Float](repeating: 0.01, count: H * E)
            var logits = [Float](repeating: 0, count: moe.tokens * E)
            samples.baselines[.gating] = try time(transport, options, progress: progress) {
                for layer in 0..<c.model.layers {
                    moe.inputs[layer].values.withUnsafeBufferPointer { x in
                        gate.withUnsafeBufferPointer { g in
                            logits.withUnsafeMutableBufferPointer { BLAS.sgemm(m: moe.tokens, n: E, k: H, x, g, $0) }
                        }
                    }
                }
            }
        }
        return samples
    }

    // MARK: memory

    public struct MemoryCheck: Sendable {
        public var steps: Int
        /// Resident set size (bytes) summed over ranks before the extra steps, after the
        /// first half of them, and after all of them.
        public var residentBefore: Int64
        public var residentMiddle: Int64
        public var residentAfter: Int64

        /// No extra steps run.
        static let none = MemoryCheck(steps: 0, residentBefore: 0, residentMiddle: 0, residentAfter: 0)

        /// Flat: the second half of the extra steps grew the resident size by at most
        /// max(1 MiB, 1%). The first half may reach a new high-water mark of the step
        /// buffers (they grow by half again when a step needs more rows than any
        /// before); a leak grows in both halves.
        public var isFlat: Bool { residentAfter - residentMiddle <= max(1 << 20, residentMiddle / 100) }
    }

    /// Runs `steps` more untimed steps and reads the resident set size before, after the
    /// first half and at the end. Buffers grow (by half again) only when a step needs more
    /// rows than any before, so a dropless layout may still reach a new high-water mark
    /// early on; a leak grows in the second half too.
    static func checkMemory(_ moe: MoERank, transport: any Transport, steps: Int, from first: Int) throws -> MemoryCheck {
        guard steps > 0 else { return .none }
        let idle = PhaseTimer(steps: 0)
        idle.begin(step: -1)
        try transport.barrier()
        let before = currentResidentBytes()
        let half = steps / 2
        let progress = transport.rank == 0 ? ProgressLine(total: steps, unit: "step", label: "bench memory check") : nil
        for s in 0..<half {
            try moe.step(first + s, transport: transport, timer: idle)
            progress?.update(done: s + 1)
        }
        try transport.barrier()
        let middle = currentResidentBytes()
        for s in half..<steps {
            try moe.step(first + s, transport: transport, timer: idle)
            progress?.update(done: s + 1)
        }
        progress?.finish()
        try transport.barrier()
        let after = currentResidentBytes()
        // Emulated ranks share one process: count its memory once.
        let shared = transport.ranksShareProcess && transport.rank != 0
        return MemoryCheck(steps: steps, residentBefore: shared ? 0 : before, residentMiddle: shared ? 0 : middle,
                           residentAfter: shared ? 0 : after)
    }
}
