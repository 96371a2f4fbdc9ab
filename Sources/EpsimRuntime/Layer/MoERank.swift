import EpsimCore

/// One rank's share of the MoE layer stack and what every layer of it uses: the router,
/// the capacity decider, the token dispatchers, the expert device and the token rows.
/// Layers run x_{l+1} = x_l + MoE_l(RMSNorm(x_l)) (pre-norm, see `RMSNorm`): the router,
/// the routed and the shared experts read the normalized rows, the residual adds x_l.
///
/// The order of the stages is written in two places only: `MoELayer` (blocking, one
/// chunk) and `OverlapPipeline` (chunks in flight while others compute). What watches
/// the steps plugs into `observers`. Everything is allocated here, once.
public final class MoERank {
    public let config: SimConfig
    public let layout: ExpertLayout
    public let rank: Int
    public let tokens: Int
    public let totalTokens: Int
    private var router: Router
    private let decider: CapacityDecider
    /// One token dispatcher per overlap chunk (one without overlap), so chunks can be
    /// in flight at once.
    public let dispatchers: [TokenDispatcher]
    let device: ExpertDevice
    /// Per layer: the router's output and the decisions of the latest step.
    public private(set) var routed: [RouterOutput]
    public private(set) var decisions: [RoutingDecisions]
    /// Per layer: the layer's input x_l [T × H] of the latest step; `inputs[L]` is the
    /// stack's output. One object per layer, so two layers' rows can be open at once.
    public let inputs: [Rows]
    /// RMSNorm(x_l) [T × H] of the layer being run (reused by every layer).
    let normed: Rows
    /// The routed experts' outputs [expertRows × H] of the chunk being computed.
    var expertOutput: [Float] = []
    /// The timer and the observers of every step.
    public let observers = StepObservers()
    /// `--sync`: a barrier before each communication stage, timed as `Stage.wait`, so
    /// waiting for the slowest rank is not counted as transfer time.
    public var synchronize = false
    /// `epsim run --routing-only`: each layer is routed and decided, nothing more (no
    /// dispatch, experts, combine or residual; `inputs[l]` for l > 0 stay zero).
    public var routingOnly = false
    private let pipeline: OverlapPipeline?

    /// Builds every layer's router, experts and buffers. Throws `ConfigError` for bad
    /// placements or trace files.
    public init(config: SimConfig, rank: Int, worldSize: Int) throws {
        self.config = config
        self.rank = rank
        let m = config.model
        layout = try ExpertLayout(config.placement, experts: m.experts, ranks: worldSize)
        tokens = config.tokens(rank: rank, size: worldSize)
        totalTokens = config.worldTokens(size: worldSize)
        router = try Router(config: config, worldSize: worldSize, ranks: [rank])
        router.fullPreference = Router.wantsFullPreference(config)
        decider = CapacityDecider(config: config, layout: layout)
        let placement = layout
        dispatchers = (0..<config.overlapChunks).map { _ in
            TokenDispatcher(layout: placement, rank: rank, hidden: m.hidden, topK: m.topK,
                            dispatch: config.precision.dispatch, combine: config.precision.combine,
                            dedup: config.dispatch.dedup)
        }
        device = ExpertDevice(config: config, localExperts: layout.local[rank])
        routed = (0..<m.layers).map { _ in RouterOutput(config: config, rank: rank, worldSize: worldSize) }
        decisions = Array(repeating: RoutingDecisions(), count: m.layers)
        let rowCount = tokens * m.hidden
        inputs = (0...m.layers).map { _ in Rows(count: rowCount) }
        normed = Rows(count: rowCount)
        pipeline = config.overlapChunks > 1 ? OverlapPipeline(chunks: config.overlapChunks) : nil
    }

    /// Draws the token inputs of `step` into `inputs[0]`. Not part of the simulated
    /// step (a real layer receives its inputs), so callers keep it outside the timer.
    public func prepareInputs(step: Int) {
        inputs[0].values.withUnsafeMutableBufferPointer {
            TokenInputs.fill($0, seed: config.seed, step: step, rank: rank, tokens: tokens, hidden: config.model.hidden)
        }
    }

    /// Runs every layer of `step` on `inputs[0]`, drawing the inputs first unless
    /// `prepared` says `prepareInputs(step:)` already did; `timer` times the stages.
    /// Throws `RoutingError` for a non-finite router logit, or what the transport throws.
    public func step(_ step: Int, transport: any Transport, timer: PhaseTimer, prepared: Bool = false) throws {
        if !prepared { prepareInputs(step: step) }
        observers.timer = timer
        observers.stepStarted(step)
        for layer in 0..<config.model.layers {
            timer.layer = layer
            if routingOnly {
                try route(layer, step: step)
                try decide(layer, transport: transport)
            } else if let pipeline {
                try pipeline.run(layer: layer, step: step, on: self, transport: transport)
            } else {
                try MoELayer.run(layer: layer, step: step, on: self, transport: transport)
            }
        }
    }

    /// The weights of local expert `l` of `layer` (real compute only).
    public func localWeights(layer: Int, expert l: Int) -> ExpertWeights { device.localWeights(layer: layer, expert: l) }

    // MARK: stages both schedules share

    /// Route: normed = RMSNorm(x_l), then the router's scores and top-k of `layer`.
    func route(_ layer: Int, step: Int) throws {
        let H = config.model.hidden, T = tokens
        try observers.stage(.route) {
            normed.values.withUnsafeMutableBufferPointer { y in
                inputs[layer].values.withUnsafeBufferPointer { x in RMSNorm.apply(x, rows: T, hidden: H, into: y) }
            }
            try router.route(step: step, rank: rank, layer: layer, inputs: normed.values, into: &routed[layer])
        }
    }

    /// Capacity and overflow decisions of `layer` (collective with global scope).
    func decide(_ layer: Int, transport: any Transport) throws {
        try observers.stage(.capacity) {
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
    }

    /// Dispatch preprocess of the tokens of one chunk (nil: all).
    func dispatchPreprocess(_ layer: Int, chunk c: Int) -> DispatchHandle {
        let mark = observers.begin(.dispatchPreprocess, chunk: c)
        let range = tokenRange(chunk: c)
        let handle = dispatchers[c].dispatchPreprocess(x: normed.values, decisions: decisions[layer], tokens: range)
        observers.end(mark)
        return handle
    }

    /// Token dispatch or token combine of chunk `c`, blocking: the `--sync` barrier, the
    /// exchange timed as its stage, then the observers told what it moved.
    func exchange(_ kind: ExchangeKind, _ handle: consuming DispatchHandle, layer: Int, chunk c: Int,
                  transport: any Transport) throws -> DispatchHandle {
        let mark = try beginExchange(kind, chunk: c, transport)
        let done: DispatchHandle
        switch kind {
        case .dispatch: done = try dispatchers[c].tokenDispatch(handle, transport: transport)
        case .combine: done = try dispatchers[c].tokenCombine(handle, transport: transport)
        }
        endExchange(mark, kind, layer: layer, chunk: c, done)
        return done
    }

    /// The same, non-blocking: the exchange is started (for dispatch after its blocking
    /// counts exchange) and returned in flight.
    func startExchange(_ kind: ExchangeKind, _ handle: consuming DispatchHandle, layer: Int, chunk c: Int,
                       transport: any Transport) throws -> InFlightExchange {
        let mark = try beginExchange(kind, chunk: c, transport)
        let started: InFlightExchange
        switch kind {
        case .dispatch: started = try dispatchers[c].startTokenDispatch(handle, transport: transport)
        case .combine: started = try dispatchers[c].startTokenCombine(handle, transport: transport)
        }
        endExchange(mark, kind, layer: layer, chunk: c, started.handle)
        return started
    }

    /// Waits for chunk `c`'s exchange in flight, timed as its stage (its bytes are on the
    /// slice that started it).
    func complete(_ kind: ExchangeKind, _ inFlight: consuming InFlightExchange, chunk c: Int) throws -> DispatchHandle {
        let mark = observers.begin(kind.stage, chunk: c)
        let handle = try inFlight.wait()
        observers.end(mark)
        return handle
    }

    /// Dispatch postprocess of a chunk: decoded rows unless the device is modeled.
    func dispatchPostprocess(_ handle: consuming DispatchHandle, chunk c: Int) -> DispatchOutput {
        let mark = observers.begin(.dispatchPostprocess, chunk: c)
        let output = dispatchers[c].dispatchPostprocess(handle, decode: !device.isModeled)
        observers.end(mark)
        return output
    }

    /// Before an exchange: the `--sync` barrier (timed as `Stage.wait`), then the
    /// exchange's own stage begins.
    private func beginExchange(_ kind: ExchangeKind, chunk c: Int, _ transport: any Transport) throws -> PhaseTimer.Mark {
        if synchronize { try observers.stage(.wait, chunk: c) { try transport.barrier() } }
        return observers.begin(kind.stage, chunk: c)
    }

    /// After an exchange has been made or started: its stage ends, and the observers are
    /// told what `handle`'s payload moves. The rows of a dispatch are those the experts
    /// compute (with `dispatch.dedup: rank` more than the rows that arrived, since a row
    /// feeds each local expert it names); those of a combine, the rows that come back.
    private func endExchange(_ mark: PhaseTimer.Mark, _ kind: ExchangeKind, layer: Int, chunk: Int,
                             _ handle: borrowing DispatchHandle) {
        let bytes = handle.bytes(kind)
        // The bytes to and from other ranks go on the trace's slice: counted only for one.
        observers.end(mark, bytes: observers.timer.recordsEvents ? bytes.offRank(excluding: rank) : nil)
        observers.exchangeStarted(ExchangeRecord(kind: kind, layer: layer, chunk: chunk, bytes: bytes,
                                                 recvRows: kind == .dispatch ? handle.expertRows : handle.sendRows))
    }

    /// The routed experts on a chunk's received rows, into `expertOutput`; `between`
    /// runs after each expert's block.
    func routedExperts(_ layer: Int, chunk c: Int, _ output: borrowing DispatchOutput,
                       between: () throws -> Void) throws {
        let rows = output.rows, counts = output.tokensPerExpert
        try observers.stage(.expert, chunk: c) {
            try device.routed(layer: layer, x: rows, tokensPerExpert: counts, into: &expertOutput, between: between)
        }
        // Told after the stage, so the observers' time is not the experts'.
        for l in 0..<device.localExperts { observers.expertComputed(ExpertBlock(layer: layer, chunk: c, localExpert: l, rows: counts[l])) }
    }

    /// The residual and the shared experts: x_{l+1} = x_l + shared(RMSNorm(x_l)); the
    /// routed experts' outputs are added by combine postprocess.
    func residualAndShared(_ layer: Int) {
        let T = tokens
        observers.stage(.shared) {
            inputs[layer + 1].values.withUnsafeMutableBufferPointer { out in
                inputs[layer].values.withUnsafeBufferPointer { x in _ = out.update(fromContentsOf: x) }
                normed.values.withUnsafeBufferPointer { n in device.shared(layer: layer, x: n, tokens: T, into: out) }
            }
        }
    }

    /// Combine preprocess of a chunk's expert outputs (zeros when modeled).
    func combinePreprocess(_ handle: consuming DispatchHandle, chunk c: Int) -> DispatchHandle {
        let mark = observers.begin(.combinePreprocess, chunk: c)
        let encoded = dispatchers[c].combinePreprocess(handle, expertOutput: device.isModeled ? nil : expertOutput)
        observers.end(mark)
        return encoded
    }

    /// Combine postprocess of a chunk: its routed outputs added into x_{l+1}.
    func combinePostprocess(_ handle: consuming DispatchHandle, layer: Int, chunk c: Int) {
        let mark = observers.begin(.combinePostprocess, chunk: c)
        let weights = decisions[layer].weight
        dispatchers[c].combinePostprocess(handle, weights: weights, into: &inputs[layer + 1].values)
        observers.end(mark)
    }

    /// The tokens of chunk `c`: contiguous, as even as possible; nil without overlap.
    func tokenRange(chunk c: Int) -> Range<Int>? {
        dispatchers.count > 1 ? MoERank.tokenRange(chunk: c, of: dispatchers.count, tokens: tokens) : nil
    }

    /// Chunk `c` of `n` over `tokens` tokens: contiguous, as even as possible (all of
    /// them with one chunk).
    static func tokenRange(chunk c: Int, of n: Int, tokens: Int) -> Range<Int> {
        (c * tokens / n)..<((c + 1) * tokens / n)
    }
}

/// A reusable block of rows [T × H], shared by reference.
public final class Rows {
    public var values: [Float]
    init(count: Int) { values = LargeBuffer.zeros(count) }
}
