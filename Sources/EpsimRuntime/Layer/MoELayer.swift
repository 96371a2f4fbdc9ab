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
        try r.route(layer, step: step)
        try r.decide(layer, transport: transport)
        let sent = r.dispatchPreprocess(layer, chunk: 0)
        let received = try r.exchange(.dispatch, sent, layer: layer, chunk: 0, transport: transport)
        let output = r.dispatchPostprocess(received, chunk: 0)
        try r.routedExperts(layer, chunk: 0, output, between: {})
        let encoded = r.combinePreprocess(output.handle, chunk: 0)
        let returned = try r.exchange(.combine, encoded, layer: layer, chunk: 0, transport: transport)
        r.residualAndShared(layer)
        r.combinePostprocess(returned, layer: layer, chunk: 0)
    }
}
