import EpsimCore

/// The permute and unpermute phases as the layer runs them, for `epsim calibrate`'s
/// per-row costs: a short run of the layer itself (`Simulation.execute`, `--sync`) on
/// every rank at once, its experts really computing, so that each phase meets the
/// caches, TLB and branch predictors in the state the phases before it leave them. An
/// isolated micro-benchmark of the same code meets them otherwise: in a tight loop it
/// took half the layer's time on the machine this was written on, and right after an
/// expert FFN 1.6 times it, because what a phase costs there depends on what ran before
/// it (docs/model.md, "This host").
///
/// The run: the default config's width and experts (H from the first calibration shape,
/// F 512, E 8, top-2, SwiGLU) with `tokens` tokens per rank on seeded uniform routing,
/// dropless (so every rank sends T·k rows and returns as many), fp32 wire, `warmup`
/// steps and then `steps` counted ones. The token count is not the host validation's
/// (512): the costs are fitted on a run the validation does not contain.
///
/// - permute: capacity decisions, dispatch preprocess and dispatch postprocess;
/// - unpermute: combine preprocess and combine postprocess.
enum LayerPhaseBench {
    static let tokens = 256
    static let topK = 2
    static let warmup = 3
    static func steps(_ options: Calibration.Options) -> Int { options.quick ? 10 : 30 }

    /// The calibration run's config at width `hidden`.
    static func config(hidden: Int, options: Calibration.Options) -> SimConfig {
        var c = SimConfig()
        c.model.hidden = hidden
        c.model.topK = topK
        c.tokens = .uniform(tokens)
        c.workload = .uniform
        c.capacity.factor = nil
        c.steps = steps(options)
        c.warmupSteps = warmup
        return c
    }

    /// Every rank's median permute and unpermute seconds over the counted steps, then
    /// the rows it sent per step: three values. Dropless, without dedup, every
    /// assignment is a row sent, so that is T·k on every rank (the received rows vary
    /// with the routing; the model charges the unpermute on the rows sent). Collective.
    static func run(_ transport: any Transport, options: Calibration.Options) throws -> [Double] {
        let config = config(hidden: Calibration.phaseHidden(options), options: options)
        var medians: [Double] = []
        _ = try Simulation.execute(config, transport: transport, settings: Simulation.Settings(sync: true)) { finished in
            let timer = finished.timer, phases = Phase.allCases.count
            medians = [Phase.permute, Phase.unpermute].map { phase in
                median((0..<timer.steps).map { timer.seconds[$0 * phases + phase.rawValue] })
            }
        }
        return medians + [Double(tokens * topK)]
    }
}

extension Calibration {
    /// The width the per-row costs are measured at: the first calibration shape's H
    /// (the default config's, 256).
    static func phaseHidden(_ options: Options) -> Int {
        options.shapes.first?.hidden ?? ModelConfig().hidden
    }
}
