import EpsimCore

/// One rank's share of the MoE layer stack: router, capacity and overflow, token
/// dispatcher, local experts and shared experts, run layer after layer with the
/// pre-norm x_{l+1} = x_l + MoE_l(RMSNorm(x_l)) (see `RMSNorm`): the router, the routed
/// and the shared experts read the normalized rows, the residual adds x_l itself.
/// Everything is allocated here, once.
public final class MoERank {
    public let config: SimConfig
    public let layout: ExpertLayout
    public let rank: Int
    public let tokens: Int
    public let totalTokens: Int
    private var router: Router
    private let decider: CapacityDecider
    /// One token dispatcher per overlap chunk (one without overlap), each with its own
    /// buffers and handle, so chunks can be in flight at once.
    public let dispatchers: [TokenDispatcher]
    /// Exchanges in flight, per chunk.
    private let pendingDispatch: [PendingSlot]
    private let pendingCombine: [PendingSlot]
    private let compute: ExpertCompute
    /// [layer][local expert] weights; empty with modeled compute.
    private let localWeights: [[ExpertWeights]]
    /// [layer][shared expert] weights; empty with modeled compute.
    private let sharedWeights: [[ExpertWeights]]
    /// Per layer: the router's output and the decisions of the latest step.
    public private(set) var routed: [RouterOutput]
    public private(set) var decisions: [RoutingDecisions]
    /// Per layer: the layer's input x_l [T × H] of the latest step; `inputs[L]` is the
    /// stack's output. One object per layer, so two layers' rows can be open at once.
    public let inputs: [Rows]
    /// RMSNorm(x_l) [T × H] of the layer being run (reused by every layer).
    private let normed: Rows
    private var expertOutput: [Float] = []
    /// Bytes this rank sent to each peer in the latest step: dispatch, combine ([P] each).
    public private(set) var dispatchBytes: [Int]
    public private(set) var combineBytes: [Int]
    /// In the latest step, summed over layers: rows this rank's experts computed, and
    /// bytes it received (dispatch payload from every rank, itself included, plus the
    /// combine payload returned to it).
    public private(set) var rowsComputed = 0
    public private(set) var bytesReceived = 0
    /// When set, the next steps append what they exchanged and computed (for `epsim
    /// bench`'s baselines); nil otherwise, which costs nothing.
    public var record: StepShapes?
    /// `--sync`: a barrier before each communication phase, timed as `Phase.wait`, so
    /// waiting for the slowest rank is not counted as transfer time.
    public var synchronize = false

    /// Builds every layer's router, experts and buffers. Throws `ConfigError` for bad
    /// placements or trace files.
    public init(config: SimConfig, rank: Int, worldSize: Int) throws {
        self.config = config
        self.rank = rank
        let m = config.model
        layout = try ExpertLayout(config.placement, experts: m.experts, ranks: worldSize)
        tokens = config.tokens(rank: rank, size: worldSize)
        totalTokens = (0..<worldSize).reduce(0) { $0 + config.tokens(rank: $1, size: worldSize) }
        router = try Router(config: config, worldSize: worldSize, ranks: [rank])
        decider = CapacityDecider(config: config, layout: layout)
        let placement = layout
        dispatchers = (0..<config.overlapChunks).map { _ in
            TokenDispatcher(layout: placement, rank: rank, hidden: m.hidden, topK: m.topK,
                            dispatch: config.precision.dispatch, combine: config.precision.combine)
        }
        pendingDispatch = (0..<config.overlapChunks).map { _ in PendingSlot() }
        pendingCombine = (0..<config.overlapChunks).map { _ in PendingSlot() }
        compute = ExpertCompute(hidden: m.hidden, ffn: m.ffn)
        if case .real = config.compute {
            let held = layout.local[rank], seed = config.seed
            localWeights = (0..<m.layers).map { l in
                held.map { ExpertWeights(seed: seed, layer: l, expert: $0, model: m) }
            }
            sharedWeights = (0..<m.layers).map { l in
                (0..<m.sharedExperts).map { ExpertWeights(seed: seed, layer: l, shared: $0, model: m) }
            }
        } else {
            localWeights = []
            sharedWeights = []
        }
        routed = (0..<m.layers).map { _ in RouterOutput(config: config, rank: rank, worldSize: worldSize) }
        decisions = Array(repeating: RoutingDecisions(), count: m.layers)
        let rowCount = tokens * m.hidden
        inputs = (0...m.layers).map { _ in Rows(count: rowCount) }
        normed = Rows(count: rowCount)
        dispatchBytes = Array(repeating: 0, count: worldSize)
        combineBytes = dispatchBytes
    }

    /// Draws the token inputs of `step` into `inputs[0]`. Not part of the simulated
    /// step (a real layer receives its inputs), so callers keep it outside the timer.
    public func prepareInputs(step: Int) {
        inputs[0].values.withUnsafeMutableBufferPointer {
            TokenInputs.fill($0, seed: config.seed, step: step, rank: rank, tokens: tokens, hidden: config.model.hidden)
        }
    }

    /// Runs every layer of `step` on `inputs[0]`, drawing the inputs first unless
    /// `prepared` says `prepareInputs(step:)` already did. Throws `RoutingError` for a
    /// non-finite router logit, or what the transport throws.
    public func step(_ step: Int, transport: any Transport, timer: PhaseTimer, prepared: Bool = false) throws {
        if !prepared { prepareInputs(step: step) }
        for p in 0..<dispatchBytes.count {
            dispatchBytes[p] = 0
            combineBytes[p] = 0
        }
        rowsComputed = 0
        bytesReceived = 0
        for layer in 0..<config.model.layers {
            try runLayer(layer, step: step, transport: transport, timer: timer)
        }
    }

    private func runLayer(_ layer: Int, step: Int, transport: any Transport, timer: PhaseTimer) throws {
        timer.layer = layer
        try timer.time(.route) {
            normalize(layer)
            try router.route(step: step, rank: rank, layer: layer, inputs: normed.values, into: &routed[layer])
        }
        try timer.time(.permute) { try decide(layer, transport: transport) }
        let chunks = dispatchers.count
        try post(chunk: 0, layer: layer, transport: transport, timer: timer)
        // With overlap the shared experts run while chunk 0 is on the wire.
        if chunks > 1 { runShared(layer, timer: timer) }
        for c in 0..<chunks {
            if c + 1 < chunks { try post(chunk: c + 1, layer: layer, transport: transport, timer: timer) }
            let d = dispatchers[c]
            if pendingDispatch[c].isPending {
                try timer.time(.dispatch) { try pendingDispatch[c].wait() }
            }
            timer.time(.permute) { d.dispatchPostprocess(decode: !isModeled) }
            if let r = record {
                r.permuteBytes += isModeled ? 0 : d.handle.recvRows * config.model.hidden * 4
                r.unpermuteBytes += d.handle.recvRows * d.combineRowBytes + d.handle.sendRows * d.combineRowBytes
                for l in 0..<d.localExperts where !isModeled {
                    r.expertBlocks.append(.init(layer: layer, chunk: c, localExpert: l, rows: d.handle.tokensPerExpert[l]))
                }
            }
            try timer.time(.expert) { try runExperts(layer, d) }
            timer.time(.unpermute) {
                if isModeled {
                    d.combinePreprocessZeros()
                } else {
                    expertOutput.withUnsafeBufferPointer { d.combinePreprocess(expertOutput: $0) }
                }
            }
            if synchronize { try timer.time(.wait) { try transport.barrier() } }
            try timer.time(.combine) {
                if chunks == 1 {
                    try d.tokenCombine(transport: transport)
                } else {
                    pendingCombine[c].request = try d.startCombine(transport: transport)
                }
            }
            record?.exchanges.append(.init(kind: .combine, chunk: c, handle: d.handle))
            for p in 0..<combineBytes.count { combineBytes[p] += d.handle.sendBytes[p] }
            let m = config.model
            rowsComputed += d.handle.recvRows
            bytesReceived += d.handle.recvRows * WireCodec.bytesPerRow(config.precision.dispatch, hidden: m.hidden)
                + d.handle.sendRows * WireCodec.bytesPerRow(config.precision.combine, hidden: m.hidden)
            if chunks == 1 {
                // No overlap: the combine completes before the shared experts run.
                try finishCombine(chunk: 0, layer: layer, timer: timer, shared: true)
            } else if c > 0 {
                try finishCombine(chunk: c - 1, layer: layer, timer: timer, shared: false)
            }
        }
        if chunks > 1 { try finishCombine(chunk: chunks - 1, layer: layer, timer: timer, shared: false) }
    }

    /// normed = RMSNorm(inputs[layer]), the rows the layer's router and experts read.
    private func normalize(_ layer: Int) {
        let H = config.model.hidden
        normed.values.withUnsafeMutableBufferPointer { y in
            inputs[layer].values.withUnsafeBufferPointer { x in
                RMSNorm.apply(x, rows: tokens, hidden: H, into: y)
            }
        }
    }

    /// Capacity and overflow decisions for `layer` from its router output (collective
    /// with global capacity scope).
    private func decide(_ layer: Int, transport: any Transport) throws {
        let out = routed[layer]
        try out.preference.withUnsafeBufferPointer { pref in
            try out.chosen.withUnsafeBufferPointer { chosen in
                try out.weights.withUnsafeBufferPointer { weights in
                    try decider.decide(rank: rank, tokens: tokens, totalTokens: totalTokens,
                                       preference: pref, chosen: chosen, weights: weights,
                                       transport: transport, into: &decisions[layer])
                }
            }
        }
    }

    /// The tokens of chunk `c`: contiguous, as even as possible; nil without overlap
    /// (the dispatcher then takes every token).
    private func tokenRange(chunk c: Int) -> Range<Int>? {
        let n = dispatchers.count
        guard n > 1 else { return nil }
        return (c * tokens / n)..<((c + 1) * tokens / n)
    }

    /// Dispatch preprocess of chunk `c`, then its counts exchange and the start of its
    /// payload exchange (kept in `pendingDispatch[c]`).
    private func post(chunk c: Int, layer: Int, transport: any Transport, timer: PhaseTimer) throws {
        let d = dispatchers[c], range = tokenRange(chunk: c)
        timer.time(.permute) {
            normed.values.withUnsafeBufferPointer {
                d.dispatchPreprocess(x: $0, decisions: decisions[layer], tokens: range)
            }
        }
        if synchronize { try timer.time(.wait) { try transport.barrier() } }
        try timer.time(.dispatch) {
            if dispatchers.count == 1 {
                try d.tokenDispatch(transport: transport)   // blocking: nothing to overlap with
            } else {
                try d.exchangeCounts(transport: transport)
                pendingDispatch[c].request = try d.startDispatch(transport: transport)
            }
        }
        record?.exchanges.append(.init(kind: .dispatch, chunk: c, handle: d.handle))
        record?.permuteBytes += d.handle.sendRows * d.dispatchRowBytes
        for p in 0..<dispatchBytes.count { dispatchBytes[p] += d.handle.sendBytes[p] }
    }

    /// Waits for chunk `c`'s combine and adds its rows into the layer output (after the
    /// shared experts when `shared`, i.e. without overlap).
    private func finishCombine(chunk c: Int, layer: Int, timer: PhaseTimer, shared: Bool) throws {
        if pendingCombine[c].isPending {
            try timer.time(.combine) { try pendingCombine[c].wait() }
        }
        if shared { runShared(layer, timer: timer) }
        let range = tokenRange(chunk: c)
        timer.time(.unpermute) {
            inputs[layer + 1].values.withUnsafeMutableBufferPointer {
                dispatchers[c].combinePostprocess(decisions: decisions[layer], into: $0, tokens: range)
            }
        }
    }

    /// out = x + shared experts(RMSNorm(x)); the routed experts' outputs are added later.
    private func runShared(_ layer: Int, timer: PhaseTimer) {
        timer.time(.shared) {
            inputs[layer + 1].values.withUnsafeMutableBufferPointer { out in
                inputs[layer].values.withUnsafeBufferPointer { x in
                    _ = out.update(fromContentsOf: x)
                }
                normed.values.withUnsafeBufferPointer { n in
                    for w in sharedWeights.isEmpty ? [] : sharedWeights[layer] {
                        compute.apply(w, x: n, rows: tokens, into: out, accumulate: true)
                    }
                }
            }
            if case .modeled = config.compute, config.model.sharedExperts > 0 {
                waitModeled(rows: tokens * config.model.sharedExperts)
            }
        }
    }

    /// One GEMM block per local expert on its contiguous received rows. Between experts,
    /// the exchanges in flight are given a chance to progress.
    private func runExperts(_ layer: Int, _ d: TokenDispatcher) throws {
        let H = config.model.hidden, h = d.handle
        let rows = h.recvRows
        if isModeled {
            // A simulated accelerator: no arithmetic and no output rows (they are zero),
            // only the time it would take.
            waitModeled(rows: rows)
            try progressPending()
            return
        }
        LargeBuffer.grow(&expertOutput, to: rows * H)
        var offset = 0
        try d.expertInput.withUnsafeBufferPointer { x in
            try expertOutput.withUnsafeMutableBufferPointer { y in
                for l in 0..<d.localExperts {
                    let n = h.tokensPerExpert[l]
                    compute.apply(localWeights[layer][l],
                                  x: UnsafeBufferPointer(rebasing: x[(offset * H)...]), rows: n,
                                  into: UnsafeMutableBufferPointer(rebasing: y[(offset * H)...]))
                    offset += n
                    try progressPending()
                }
            }
        }
    }

    /// Tests every exchange in flight (MPI progresses non-blocking collectives only
    /// inside MPI calls).
    private func progressPending() throws {
        guard dispatchers.count > 1 else { return }
        for slot in pendingDispatch + pendingCombine { _ = try slot.test() }
    }

    /// Seconds each permute/unpermute stage of `layer` takes when run again on the last
    /// step's data (collective with global capacity scope): the capacity decisions, the
    /// dispatch pre- and postprocess, the combine pre- and postprocess. For `epsim bench`'s
    /// breakdown; the layer's outputs are overwritten.
    public func timeStages(layer: Int, transport: any Transport) throws -> [Double] {
        var times = [Double](repeating: 0, count: 5)
        normalize(layer)   // the layer's rows, untimed: the stages below read them
        func clock(_ i: Int, _ body: () throws -> Void) rethrows {
            let start = monotonicSeconds()
            try body()
            times[i] += monotonicSeconds() - start
        }
        try clock(0) { try decide(layer, transport: transport) }
        for (c, d) in dispatchers.enumerated() {
            let range = tokenRange(chunk: c)
            clock(1) {
                normed.values.withUnsafeBufferPointer {
                    d.dispatchPreprocess(x: $0, decisions: decisions[layer], tokens: range)
                }
            }
            clock(2) { d.dispatchPostprocess(decode: !isModeled) }
            clock(3) {
                if isModeled {
                    d.combinePreprocessZeros()
                } else {
                    expertOutput.withUnsafeBufferPointer { d.combinePreprocess(expertOutput: $0) }
                }
            }
            clock(4) {
                inputs[layer + 1].values.withUnsafeMutableBufferPointer {
                    d.combinePostprocess(decisions: decisions[layer], into: $0, tokens: range)
                }
            }
        }
        return times
    }

    /// The weights of local expert `l` of `layer` (real compute only).
    public func localWeights(layer: Int, expert l: Int) -> ExpertWeights { localWeights[layer][l] }

    private var isModeled: Bool {
        if case .modeled = config.compute { return true }
        return false
    }

    /// Sleeps for the modeled time of `rows` token-expert FFN evaluations.
    private func waitModeled(rows: Int) {
        guard rows > 0, let seconds = ExpertCost.modeledSeconds(tokens: rows, model: config.model,
                                                                compute: config.compute) else { return }
        preciseSleep(seconds)
    }
}

/// One chunk's exchange in flight, if any.
final class PendingSlot {
    var request: ExchangeRequest?

    var isPending: Bool {
        switch request {
        case .some: return true
        case .none: return false
        }
    }

    func wait() throws {
        if let r = request.take() { try r.wait() }
    }

    func test() throws -> Bool {
        switch request {
        case .some(let r): return try r.test()
        case .none: return true
        }
    }
}

/// A reusable block of rows [T × H], shared by reference.
public final class Rows {
    public var values: [Float]
    init(count: Int) { values = LargeBuffer.zeros(count) }
}
