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
    public static func run(_ config: SimConfig, transport: any Transport, options: Options) throws -> BenchReport? {
        var samples = BaselineSamples()
        var memory = MemoryCheck(steps: 0, residentBefore: 0, residentAfter: 0)
        var settings = Simulation.Settings(sync: true)
        settings.recordLastStep = true
        let result = try Simulation.execute(config, transport: transport, settings: settings) { stage, _ in
            samples = try measure(stage, transport: transport, options: options)
            memory = try checkMemory(stage, transport: transport, steps: options.memorySteps,
                                     from: config.warmupSteps + config.steps)
        }
        let gathered = try samples.gathered(transport)
        let resident = try transport.allgather([memory.residentBefore, memory.residentAfter])
        guard let result, let gathered else { return nil }
        return BenchReport(result: result, baselines: gathered, options: options,
                           memory: MemoryCheck(steps: memory.steps,
                                               residentBefore: stride(from: 0, to: resident.count, by: 2).map { resident[$0] }.reduce(0, +),
                                               residentAfter: stride(from: 1, to: resident.count, by: 2).map { resident[$0] }.reduce(0, +)))
    }

    // MARK: baselines

    /// Seconds per iteration of each baseline on this rank.
    struct BaselineSamples {
        var exchange: [Double] = []   // all recorded dispatch + combine payloads, bare
        var sgemm: [Double] = []      // all recorded expert blocks as bare sgemm calls
        var memcpy: [Double] = []     // permute + unpermute bytes as memcpy
        var gating: [Double] = []     // the gate product as a bare sgemm (gating workload)
        /// Per iteration, each permute/unpermute stage run again on its own (decisions,
        /// dispatch pre, dispatch post, combine pre, combine post), summed over layers.
        var stages: [[Double]] = Array(repeating: [], count: 5)

        static let kinds = 4 + 5

        /// Every rank's samples on rank 0, kind by kind: [kind][rank × iteration].
        func gathered(_ transport: any Transport) throws -> [[Double]]? {
            let n = exchange.count
            var flat: [Double] = []
            for list in [exchange, sgemm, memcpy, gating] + stages {
                flat += list.count == n ? list : Array(repeating: 0, count: n)
            }
            let all = try transport.allgather(flat)
            guard transport.rank == 0 else { return nil }
            let kinds = BaselineSamples.kinds
            var out = [[Double]](repeating: [], count: kinds)
            for k in 0..<kinds {
                for r in 0..<transport.size {
                    let start = (r * kinds + k) * n
                    out[k] += all[start..<(start + n)]
                }
            }
            return out
        }
    }

    /// Times `iterations` runs of `body` after `warmup` untimed ones, a barrier before
    /// each (outside the timed region).
    private static func time(_ transport: any Transport, _ options: Options, _ body: () throws -> Void) throws -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(options.iterations)
        for i in 0..<(options.warmup + options.iterations) {
            try transport.barrier()
            let start = monotonicSeconds()
            try body()
            let elapsed = monotonicSeconds() - start
            if i >= options.warmup { out.append(elapsed) }
        }
        return out
    }

    static func measure(_ stage: MoERank, transport: any Transport, options: Options) throws -> BaselineSamples {
        guard let shapes = stage.record else { return BaselineSamples() }
        stage.record = nil
        let c = stage.config, H = c.model.hidden, F = c.model.ffn
        var samples = BaselineSamples()

        // Dispatch + combine: each recorded payload exchange as one bare all-to-allv of the
        // same per-peer byte counts, on the dispatcher's own wire buffers.
        samples.exchange = try time(transport, options) {
            for e in shapes.exchanges {
                try stage.dispatchers[e.chunk].withWireBuffers { send, recv in
                    // The combine goes out of the receive buffer, as in the layer.
                    let (s, r) = e.kind == .dispatch ? (send, recv) : (recv, send)
                    try transport.alltoallv(send: UnsafeBufferPointer(s.bindMemory(to: UInt8.self)),
                                            sendCounts: e.sendBytes, sendDispls: e.sendDispls,
                                            recv: r.bindMemory(to: UInt8.self),
                                            recvCounts: e.recvBytes, recvDispls: e.recvDispls)
                }
            }
        }

        // Experts: the same sgemm calls (x·W1, x·W3 for SwiGLU, h·W2) on the received
        // rows and the experts' own weights, without the activation and the bookkeeping.
        var scratchA = [Float](repeating: 0, count: max(1, (shapes.expertBlocks.map(\.rows).max() ?? 0) * F))
        var scratchY = [Float](repeating: 0, count: max(1, (shapes.expertBlocks.map(\.rows).max() ?? 0) * H))
        samples.sgemm = try time(transport, options) {
            var offsets = [Int](repeating: 0, count: stage.dispatchers.count)
            for b in shapes.expertBlocks {
                let w = stage.localWeights(layer: b.layer, expert: b.localExpert)
                let d = stage.dispatchers[b.chunk], n = b.rows
                defer { offsets[b.chunk] += n }
                guard n > 0 else { continue }
                d.expertInput.withUnsafeBufferPointer { xAll in
                    let x = UnsafeBufferPointer(rebasing: xAll[(offsets[b.chunk] * H)..<((offsets[b.chunk] + n) * H)])
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

        // Permute + unpermute: memcpy of the bytes those stages write, between the
        // dispatcher's wire buffers (in chunks no larger than the smaller buffer).
        let bytes = shapes.permuteBytes + shapes.unpermuteBytes
        samples.memcpy = try time(transport, options) {
            stage.dispatchers[0].withWireBuffers { send, recv in
                let chunk = min(send.count, recv.count)
                guard chunk > 0 else { return }
                var left = bytes
                while left > 0 {
                    let n = min(chunk, left)
                    memcpy(recv.baseAddress!, send.baseAddress!, n)
                    left -= n
                }
            }
        }

        // Route: the gate product x·Wg of the same shape, [T×H]·[H×E] (gating only).
        if case .gating = c.workload {
            let E = c.model.experts
            let gate = [Float](repeating: 0.01, count: H * E)
            var logits = [Float](repeating: 0, count: stage.tokens * E)
            samples.gating = try time(transport, options) {
                for layer in 0..<c.model.layers {
                    stage.inputs[layer].values.withUnsafeBufferPointer { x in
                        gate.withUnsafeBufferPointer { g in
                            logits.withUnsafeMutableBufferPointer { BLAS.sgemm(m: stage.tokens, n: E, k: H, x, g, $0) }
                        }
                    }
                }
            }
        }
        // The permute and unpermute stages one by one, on the layer's own data (last, as
        // it overwrites the layer's outputs and the receive buffers).
        for i in 0..<(options.warmup + options.iterations) {
            try transport.barrier()
            var sum = [Double](repeating: 0, count: 5)
            for layer in 0..<c.model.layers {
                let t = try stage.timeStages(layer: layer, transport: transport)
                for k in 0..<5 { sum[k] += t[k] }
            }
            if i >= options.warmup { for k in 0..<5 { samples.stages[k].append(sum[k]) } }
        }
        return samples
    }

    // MARK: memory

    public struct MemoryCheck: Sendable {
        public var steps: Int
        /// Resident set size (bytes) summed over ranks before and after the extra steps.
        public var residentBefore: Int64
        public var residentAfter: Int64
    }

    /// Runs `steps` more untimed steps and reads the resident set size before and after.
    static func checkMemory(_ stage: MoERank, transport: any Transport, steps: Int, from first: Int) throws -> MemoryCheck {
        guard steps > 0 else { return MemoryCheck(steps: 0, residentBefore: 0, residentAfter: 0) }
        let idle = PhaseTimer(steps: 0)
        idle.begin(step: -1)
        try transport.barrier()
        let before = currentResidentBytes()
        for s in 0..<steps { try stage.step(first + s, transport: transport, timer: idle) }
        try transport.barrier()
        let after = currentResidentBytes()
        // Emulated ranks share one process: count its memory once.
        let shared = transport.kindName == "emulated" && transport.rank != 0
        return MemoryCheck(steps: steps, residentBefore: shared ? 0 : before, residentAfter: shared ? 0 : after)
    }
}
