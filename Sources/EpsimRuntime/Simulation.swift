import EpsimCore

/// `epsim run`: every rank runs the same loop over warm-up and counted steps; rank 0
/// prints the report and writes the result files.
public enum Simulation {
    /// Runs one layout on `transport`. Collective. Bad input (config, world size,
    /// trace files, output paths) is agreed on by all ranks before anything runs, so it
    /// is reported once and every rank exits.
    public static func run(_ options: RunOptions, transport: any Transport) throws {
        let config = try Launcher.agree(transport) { () throws -> SimConfig in
            let config = try ConfigLoader.load(path: options.configPath, overrides: options.overrides)
            try ConfigLoader.validate(config, worldSize: transport.size)
            return config
        }
        let (dump, output) = try Launcher.agree(transport) {
            let dump = try options.routingOut.map { try RoutingDump(path: $0, rank: transport.rank) }
            let output = transport.rank == 0 ? try options.output.map { try AtomicFile.Writer(path: $0) } : nil
            return (dump, output)
        }
        guard let result = try execute(config, transport: transport, verify: options.verify, dump: dump) else { return }
        print(result.terminalReport())
        if let output {
            try output.append(result.json().serialized() + "\n")
            try output.commit()
        }
        if let verification = result.verification, !verification.passed {
            Launcher.printError("verification failed: \(verification.summary)")
            throw ReportedFailure()
        }
    }

    /// Runs the warm-up and counted steps of `config` on every rank (collective) and
    /// returns the result on rank 0 (nil elsewhere). Setup errors (placement, trace
    /// files) are agreed on by all ranks first.
    public static func execute(_ config: SimConfig, transport: any Transport, verify: Bool = false,
                               dump: RoutingDump? = nil) throws -> RunResult? {
        let stage = try Launcher.agree(transport) {
            try MoERank(config: config, rank: transport.rank, worldSize: transport.size)
        }
        let P = transport.size
        var totals = RoutingTotals(experts: config.model.experts)
        var traffic = [Int64](repeating: 0, count: 2 * P)  // dispatch bytes to each peer, then combine
        let timer = PhaseTimer(steps: config.steps)
        var verification: Verification? = nil
        let lastStep = config.warmupSteps + config.steps - 1
        try transport.barrier()
        for step in 0...lastStep {
            let counted = step - config.warmupSteps
            timer.begin(step: counted)
            try timer.time(.step) { try stage.step(step, transport: transport, timer: timer) }
            guard counted >= 0 else { continue }
            for p in 0..<P {
                traffic[p] += Int64(stage.dispatchBytes[p])
                traffic[P + p] += Int64(stage.combineBytes[p])
            }
            for layer in 0..<config.model.layers {
                let decisions = stage.decisions[layer]
                stage.routed[layer].weights.withUnsafeBufferPointer { totals.add(decisions, weights: $0) }
                try stage.routed[layer].chosen.withUnsafeBufferPointer { chosen in
                    try dump?.record(step: counted, layer: layer, rank: transport.rank,
                                     chosen: chosen, decisions: decisions, transport: transport)
                }
            }
            if verify && step == lastStep {
                verification = try Verifier.verify(stage, step: step, transport: transport)
            }
        }
        let perRank = try totals.gathered(transport)
        let trafficMatrix = try transport.allgather(traffic)
        let phaseSeconds = try transport.allgather(timer.seconds)
        try dump?.commit()
        guard transport.rank == 0 else { return nil }
        return RunResult(
            config: config, transport: transport.kindName, ranks: P, layout: stage.layout, perRank: perRank,
            phases: PhaseSummary(seconds: phaseSeconds, ranks: P, steps: config.steps),
            traffic: TrafficMatrix(gathered: trafficMatrix, ranks: P), verification: verification)
    }
}
