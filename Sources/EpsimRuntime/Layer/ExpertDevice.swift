import EpsimCore

/// Where one rank's experts run: on this host with BLAS (`compute: real`), or on a
/// modeled accelerator that does no arithmetic and takes the time
/// `ExpertCost.modeledSeconds` says (`compute: modeled`; its outputs are zero).
final class ExpertDevice {
    let config: SimConfig
    /// How many experts this rank holds.
    let localExperts: Int
    private let compute: ExpertCompute
    /// [layer][local expert] and [layer][shared expert] weights; empty when modeled.
    private let localWeights: [[ExpertWeights]]
    private let sharedWeights: [[ExpertWeights]]

    /// Builds the weights of every local and shared expert of every layer (real only).
    init(config: SimConfig, localExperts: [Int]) {
        self.config = config
        self.localExperts = localExperts.count
        let m = config.model
        compute = ExpertCompute(hidden: m.hidden, ffn: m.ffn)
        if case .real = config.compute {
            let seed = config.seed
            localWeights = (0..<m.layers).map { l in
                localExperts.map { ExpertWeights(seed: seed, layer: l, expert: $0, model: m) }
            }
            sharedWeights = (0..<m.layers).map { l in
                (0..<m.sharedExperts).map { ExpertWeights(seed: seed, layer: l, shared: $0, model: m) }
            }
        } else {
            localWeights = []
            sharedWeights = []
        }
    }

    /// Whether the experts compute (and so need their input rows decoded).
    var isModeled: Bool { config.compute.isModeled }

    /// The weights of local expert `l` of `layer` (real compute only).
    func localWeights(layer: Int, expert l: Int) -> ExpertWeights { localWeights[layer][l] }

    /// The routed experts of `layer` on their received rows `x` [rows × H] (expert-major,
    /// `tokensPerExpert` [L] rows each) into `y` [rows × H], one GEMM block per expert.
    /// `between` runs after each block (to let exchanges in flight progress). Modeled:
    /// waits for the time of all rows, no output.
    func routed(layer: Int, x: [Float], tokensPerExpert: [Int], into y: inout [Float],
                between: () throws -> Void) throws {
        let H = config.model.hidden, rows = tokensPerExpert.reduce(0, +)
        if isModeled {
            wait(rows: rows)
            try between()
            return
        }
        LargeBuffer.grow(&y, to: rows * H)
        var offset = 0
        try x.withUnsafeBufferPointer { x in
            try y.withUnsafeMutableBufferPointer { y in
                for l in 0..<localExperts {
                    let n = tokensPerExpert[l]
                    compute.apply(localWeights[layer][l],
                                  x: UnsafeBufferPointer(rebasing: x[(offset * H)...]), rows: n,
                                  into: UnsafeMutableBufferPointer(rebasing: y[(offset * H)...]))
                    offset += n
                    try between()
                }
            }
        }
    }

    /// out += shared experts of `layer` applied to `x` [tokens × H] (the normalized rows).
    func shared(layer: Int, x: UnsafeBufferPointer<Float>, tokens: Int, into out: UnsafeMutableBufferPointer<Float>) {
        if isModeled {
            wait(rows: tokens * config.model.sharedExperts)
            return
        }
        for w in sharedWeights[layer] {
            compute.apply(w, x: x, rows: tokens, into: out, accumulate: true)
        }
    }

    /// Sleeps for the modeled time of `rows` token-expert FFN evaluations.
    private func wait(rows: Int) {
        guard rows > 0, let seconds = ExpertCost.modeledSeconds(tokens: rows, model: config.model,
                                                                compute: config.compute) else { return }
        preciseSleep(seconds)
    }
}
