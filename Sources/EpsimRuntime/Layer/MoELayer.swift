import EpsimCore

/// One MoE layer on one rank without overlap: the stages in order, each blocking.
///
///     route → capacity → dispatch (preprocess, token dispatch, postprocess) → expert
///       → combine (preprocess, token combine) → residual + shared → combine postprocess
///
/// x_{l+1} = x_l + shared(RMSNorm(x_l)) + Σ_slots weight · expert(RMSNorm(x_l)): the
/// residual and the shared experts are written first, then the routed outputs are added
/// slot by slot (`TokenPermutation.unpermute`).
enum MoELayer {
    static func run(layer: Int, step: Int, on r: MoERank, transport: any Transport) throws {
        let d = r.dispatchers[0]
        try r.route(layer, step: step)
        try r.decide(layer, transport: transport)
        var handle = r.dispatchPreprocess(layer, chunk: 0)
        try r.synchronizeIfAsked(transport)
        var mark = r.observers.begin(.tokenDispatch)
        handle = try d.tokenDispatch(handle, transport: transport)
        r.observers.end(mark)
        r.exchangeStarted(.dispatch, layer: layer, chunk: 0, handle)

        mark = r.observers.begin(.dispatchPostprocess)
        let output = d.dispatchPostprocess(handle, decode: !r.device.isModeled)
        r.observers.end(mark)
        try r.routedExperts(layer, chunk: 0, output, between: {})
        handle = r.combinePreprocess(output.handle, chunk: 0)

        try r.synchronizeIfAsked(transport)
        mark = r.observers.begin(.tokenCombine)
        handle = try d.tokenCombine(handle, transport: transport)
        r.observers.end(mark)
        r.exchangeStarted(.combine, layer: layer, chunk: 0, handle)
        r.residualAndShared(layer)
        r.combinePostprocess(handle, layer: layer, chunk: 0)
    }
}
