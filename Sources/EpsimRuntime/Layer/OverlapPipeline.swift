import EpsimCore

/// One MoE layer on one rank with `overlap.chunks` = n > 1: the tokens split into n
/// contiguous chunks, each with its own dispatcher, so that chunk c + 1's dispatch and
/// chunk c − 1's combine are on the wire while chunk c computes (Tutel's and
/// Megatron-Core's overlap of communication with expert compute).
///
///     route → capacity → dispatch 0 starts → residual + shared
///     for c in 0..<n: dispatch c+1 starts · dispatch c completes → postprocess →
///         expert (testing the exchanges in flight between experts) → combine
///         preprocess → combine c starts · combine c−1 completes → postprocess
///     combine n−1 completes → postprocess
///
/// The sum is the same as without overlap: unpermute adds each token's slots in slot
/// order, and a token belongs to exactly one chunk.
final class OverlapPipeline {
    /// Per chunk: its exchange in flight, if any.
    private final class Slot {
        var dispatching: InFlightExchange?
        var combining: InFlightExchange?

        /// Lets both exchanges in flight advance.
        func progress() throws {
            switch dispatching {
            case .some(let e): _ = try e.test()
            case .none: break
            }
            switch combining {
            case .some(let e): _ = try e.test()
            case .none: break
            }
        }
    }

    private let slots: [Slot]

    init(chunks: Int) {
        slots = (0..<chunks).map { _ in Slot() }
    }

    func run(layer: Int, step: Int, on r: MoERank, transport: any Transport) throws {
        let n = slots.count
        try r.route(layer, step: step)
        try r.decide(layer, transport: transport)
        try startDispatch(chunk: 0, layer: layer, on: r, transport: transport)
        r.residualAndShared(layer)
        for c in 0..<n {
            if c + 1 < n { try startDispatch(chunk: c + 1, layer: layer, on: r, transport: transport) }
            let received = try r.complete(.dispatch, slots[c].dispatching.take()!, chunk: c)
            let output = r.dispatchPostprocess(received, chunk: c)
            try r.routedExperts(layer, chunk: c, output, between: { try progress() })
            let encoded = r.combinePreprocess(output.handle, chunk: c)
            slots[c].combining = try r.startExchange(.combine, encoded, layer: layer, chunk: c, transport: transport)
            if c > 0 { try finishCombine(chunk: c - 1, layer: layer, on: r) }
        }
        try finishCombine(chunk: n - 1, layer: layer, on: r)
    }

    /// Dispatch preprocess of chunk `c`, its counts exchange and the start of its payload.
    private func startDispatch(chunk c: Int, layer: Int, on r: MoERank, transport: any Transport) throws {
        let sent = r.dispatchPreprocess(layer, chunk: c)
        slots[c].dispatching = try r.startExchange(.dispatch, sent, layer: layer, chunk: c, transport: transport)
    }

    /// Waits for chunk `c`'s combine and adds its rows into the layer output.
    private func finishCombine(chunk c: Int, layer: Int, on r: MoERank) throws {
        let returned = try r.complete(.combine, slots[c].combining.take()!, chunk: c)
        r.combinePostprocess(returned, layer: layer, chunk: c)
    }

    /// Tests every exchange in flight (MPI progresses non-blocking collectives only
    /// inside MPI calls).
    private func progress() throws {
        for slot in slots { try slot.progress() }
    }
}
