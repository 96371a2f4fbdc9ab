import EpsimCore

/// The permute and unpermute phases of one rank, on its own buffers and without a
/// transport: the layer's code paths (`CapacityDecider`, `DispatchPlan`,
/// `TokenPermutation`) on synthetic routing, for `epsim calibrate`'s per-row costs.
///
/// Routing: T = `tokens` tokens, k = `topK`, each token's experts in a seeded uniform
/// random order over the default config's E experts (the first k chosen, weights
/// w and 1 − w with w uniform in [0.5, 1)), the default config's capacity (factor
/// 1.25, local scope, drop, score priority), its placement over the world's ranks and
/// its wire precisions (fp32). The receive side is taken symmetric: this rank receives
/// from each peer as many rows per local expert as it sends to that peer's expert
/// (what uniform routing gives on average), so it decodes and returns as many rows as
/// it sends, and the received bytes are its own sent bytes (the exchange in between is
/// the dispatch phase, not timed here).
///
/// - permute: the capacity decisions, the send plan and the encode of every sent row
///   (dispatch preprocess), the receive plan's expert-major order and the decode of
///   every received row (dispatch postprocess);
/// - unpermute: the encode of the expert outputs into source-major wire order (combine
///   preprocess) and the weighted scatter-add into the token rows (combine postprocess).
final class PhaseRowBench {
    static let tokens = 512
    static let topK = 2

    let hidden: Int
    let topK: Int
    let tokens: Int
    let dispatchPrecision: WirePrecision
    let combinePrecision: WirePrecision
    private let decider: CapacityDecider
    private var decisions = RoutingDecisions()
    private var send: DispatchPlan
    private var receive: ReceivePlan
    private let preference: [Int32]
    private let chosen: [Int32]
    private let weights: [Float]
    private let x: [Float]
    private let y: [Float]
    private var out: [Float]
    private var rows: [Float]
    private var scratch: [Float]
    private let dispatchWire: UnsafeMutableRawBufferPointer
    private let combineWire: UnsafeMutableRawBufferPointer

    /// The bench of `rank` of `ranks` at width `hidden` (one untimed permute and
    /// unpermute run, so the plans and buffers have their sizes).
    init(hidden: Int, rank: Int, ranks: Int, seed: UInt64 = 1) throws {
        var config = SimConfig()
        config.model.hidden = hidden
        config.model.topK = Self.topK
        config.tokens = .uniform(Self.tokens)
        let E = config.model.experts, k = Self.topK, T = Self.tokens
        let layout = try ExpertLayout(config.placement, experts: E, ranks: ranks)
        let L = max(1, layout.local.map(\.count).max() ?? 1)
        self.hidden = hidden
        topK = k
        tokens = T
        dispatchPrecision = config.precision.dispatch
        combinePrecision = config.precision.combine
        decider = CapacityDecider(config: config, layout: layout)
        send = DispatchPlan(ranks: ranks, maxLocalExperts: L)
        receive = ReceivePlan(ranks: ranks, maxLocalExperts: L)

        var rng = SeededRandom.stream(seed: seed, UInt64(rank))
        var preference = [Int32](repeating: 0, count: T * E)
        var weights = [Float](repeating: 0, count: T * k)
        for t in 0..<T {
            var order = (0..<E).map(Int32.init)
            for i in stride(from: E - 1, to: 0, by: -1) {
                order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
            for e in 0..<E { preference[t * E + e] = order[e] }
            // k = 2: the first choice weighs w, the second 1 − w (softmax over the top-k).
            let w = 0.5 + 0.5 * rng.nextFloat()
            weights[t * k] = w
            for j in 1..<k { weights[t * k + j] = (1 - w) / Float(k - 1) }
        }
        self.preference = preference
        chosen = (0..<(T * k)).map { preference[($0 / k) * E + $0 % k] }
        self.weights = weights
        x = (0..<(T * hidden)).map { Float(($0 % 17) - 8) / 8 }
        y = (0..<(T * k * hidden)).map { Float(($0 % 13) - 6) * 1e-3 }
        out = [Float](repeating: 0, count: T * hidden)
        rows = [Float](repeating: 0, count: T * k * hidden)
        scratch = [Float](repeating: 0, count: hidden)
        let rowBytes = max(WireCodec.bytesPerRow(dispatchPrecision, hidden: hidden),
                           WireCodec.bytesPerRow(combinePrecision, hidden: hidden))
        dispatchWire = .allocate(byteCount: max(1, T * k * rowBytes), alignment: 16)
        combineWire = .allocate(byteCount: max(1, T * k * rowBytes), alignment: 16)
        dispatchWire.initializeMemory(as: UInt8.self, repeating: 0)
        combineWire.initializeMemory(as: UInt8.self, repeating: 0)
        permute()
        unpermute()
    }

    deinit {
        dispatchWire.deallocate()
        combineWire.deallocate()
    }

    /// Rows the rank sends (the model's `rows`: its dispatch rows; at most the T·k
    /// assignments, fewer by the dropped ones) and receives.
    var sendRows: Int { send.sendRows }
    var recvRows: Int { receive.recvRows }

    /// Capacity decisions, dispatch preprocess and dispatch postprocess.
    func permute() {
        let T = tokens, k = topK, H = hidden
        preference.withUnsafeBufferPointer { p in
            chosen.withUnsafeBufferPointer { c in
                weights.withUnsafeBufferPointer { w in
                    // Local scope: `begin` runs every round (no transport).
                    decider.begin(rank: 0, tokens: T, totalTokens: T, preference: p, chosen: c, weights: w)
                }
            }
        }
        precondition(decider.isFinished, "PhaseRowBench: the capacity decision needs no exchange")
        decider.finish(into: &decisions)
        send.plan(decisions)
        x.withUnsafeBufferPointer { x in
            TokenPermutation.permute(x, plan: send, topK: k, hidden: H, precision: dispatchPrecision, into: dispatchWire)
        }
        // The segment counts the exchange would bring: symmetric traffic.
        for i in 0..<send.sendSegments.count { receive.recvSegments[i] = send.sendSegments[i] }
        receive.planRows()
        receive.planExpertOrder()
        rows.withUnsafeMutableBufferPointer { rows in
            TokenPermutation.expertMajor(UnsafeRawBufferPointer(dispatchWire), plan: receive, hidden: H,
                                         precision: dispatchPrecision, into: rows)
        }
    }

    /// Combine preprocess and combine postprocess (after a `permute`).
    func unpermute() {
        let k = topK, H = hidden
        y.withUnsafeBufferPointer { y in
            TokenPermutation.sourceMajor(y, plan: receive, hidden: H, precision: combinePrecision, into: combineWire)
        }
        scratch.withUnsafeMutableBufferPointer { scratch in
            out.withUnsafeMutableBufferPointer { out in
                TokenPermutation.unpermute(UnsafeRawBufferPointer(combineWire), plan: send, weights: decisions.weight,
                                           topK: k, hidden: H, precision: combinePrecision, scratch: scratch, into: out)
            }
        }
    }
}

extension CalibrationBench {
    /// The permute and unpermute phases (`PhaseRowBench`) at the first calibration
    /// shape's width, every rank at once: seconds per call of each (medians of
    /// `phaseRepeats` repeats, as `perCall` takes them), then the rows sent and received: four values.
    static func phaseRows(_ transport: any Transport, options: Calibration.Options) throws -> [Double] {
        let bench = try PhaseRowBench(hidden: Calibration.phaseHidden(options), rank: transport.rank, ranks: transport.size)
        let seconds = try perCall(transport, points: 2, repeats: Calibration.phaseRepeats(options),
                                  target: options.quick ? 0.003 : 0.005) { i in
            if i == 0 { bench.permute() } else { bench.unpermute() }
        }
        return seconds + [Double(bench.sendRows), Double(bench.recvRows)]
    }
}

extension Calibration {
    /// Repeats of the phase micro-benchmarks: at least 15, each a short batch of calls
    /// (3 ms, 5 ms without --quick). A layer's phase takes a fraction of a millisecond
    /// and its figure is a median over steps, which a time slice given to another
    /// process on a shared host seldom touches; short batches keep the bench alike (a
    /// 25 ms batch nearly always holds a preemption on a loaded 2-core host, and
    /// measured the phase up to 2x slower than the layer), and many of them spread the
    /// median over ~0.1 s, so a short burst of load moves a minority of the repeats.
    static func phaseRepeats(_ options: Options) -> Int { max(15, options.repeats) }

    /// The width the per-row costs are measured at: the first calibration shape's H
    /// (the default config's, 256).
    static func phaseHidden(_ options: Options) -> Int {
        options.shapes.first?.hidden ?? ModelConfig().hidden
    }
}
