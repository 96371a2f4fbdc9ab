import EpsimCore

/// `epsim run`: every rank runs the same loop over warm-up and counted steps; rank 0
/// prints the report and writes the result files.
public enum Simulation {
    /// Runs one layout on `transport`. Collective. Bad input (config, world size,
    /// trace files, output paths) is agreed on by all ranks before anything runs, so it
    /// is reported once and every rank exits.
    public static func run(_ options: RunOptions, transport: any Transport) throws {
        let config = try Launcher.agree(transport) { () throws -> SimConfig in
            var config = try ConfigLoader.load(path: options.configPath, overrides: options.overrides)
            config.sourcePath = options.configPath
            try ConfigLoader.validate(config, worldSize: transport.size)
            return config
        }
        let (stage, dump, output) = try Launcher.agree(transport) {
            let stage = try RankRouting(config: config, rank: transport.rank, worldSize: transport.size)
            let dump = try options.routingOut.map { try RoutingDump(path: $0, rank: transport.rank) }
            let output = transport.rank == 0 ? try options.output.map { try AtomicFile.Writer(path: $0) } : nil
            return (stage, dump, output)
        }

        var totals = RoutingTotals(experts: config.model.experts)
        for step in 0..<(config.warmupSteps + config.steps) {
            let counted = step >= config.warmupSteps
            stage.drawInputs(step: step)
            for layer in 0..<config.model.layers {
                try stage.route(step: step, layer: layer, transport: transport)
                guard counted else { continue }
                let decisions = stage.decisions[layer]
                stage.routed[layer].weights.withUnsafeBufferPointer { totals.add(decisions, weights: $0) }
                try stage.routed[layer].chosen.withUnsafeBufferPointer { chosen in
                    try dump?.record(step: step - config.warmupSteps, layer: layer, rank: transport.rank,
                                     chosen: chosen, decisions: decisions, transport: transport)
                }
            }
        }

        let perRank = try totals.gathered(transport)
        try dump?.commit()
        guard transport.rank == 0 else { return }
        let result = RunResult(config: config, transport: transport.kindName, ranks: transport.size,
                               layout: stage.layout, perRank: perRank)
        print(result.terminalReport())
        if let output {
            try output.append(result.json().serialized() + "\n")
            try output.commit()
        }
    }
}
