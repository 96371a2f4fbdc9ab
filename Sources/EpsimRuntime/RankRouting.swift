import EpsimCore

/// One rank's routing stage for every layer: router, then capacity and overflow.
/// Everything is allocated here, once; `route(step:layer:)` allocates nothing.
public final class RankRouting {
    public let config: SimConfig
    public let layout: ExpertLayout
    public let rank: Int
    public let tokens: Int
    public let totalTokens: Int
    private var router: Router
    private let decider: CapacityDecider
    /// Per layer: the router's output and the decisions of the latest step.
    public private(set) var routed: [RouterOutput]
    public private(set) var decisions: [RoutingDecisions]
    private var inputs: [Float]

    /// Builds the routers (gate weights, trace rows) of every layer. Throws
    /// `ConfigError` for bad placements or trace files.
    public init(config: SimConfig, rank: Int, worldSize: Int) throws {
        self.config = config
        self.rank = rank
        layout = try ExpertLayout(config.placement, experts: config.model.experts, ranks: worldSize)
        tokens = config.tokens(rank: rank, size: worldSize)
        totalTokens = (0..<worldSize).reduce(0) { $0 + config.tokens(rank: $1, size: worldSize) }
        router = try Router(config: config, worldSize: worldSize, ranks: [rank])
        decider = CapacityDecider(config: config, layout: layout)
        routed = (0..<config.model.layers).map { _ in
            RouterOutput(config: config, rank: rank, worldSize: worldSize)
        }
        decisions = Array(repeating: RoutingDecisions(), count: config.model.layers)
        inputs = Array(repeating: 0, count: tokens * config.model.hidden)
    }

    /// Draws this step's token inputs (layer 0's x).
    public func drawInputs(step: Int) {
        inputs.withUnsafeMutableBufferPointer {
            TokenInputs.fill($0, seed: config.seed, step: step, rank: rank,
                             tokens: tokens, hidden: config.model.hidden)
        }
    }

    /// Routes `layer` for `step` and decides capacity and overflow. With
    /// `capacity.scope: global` this is collective over `transport`.
    public func route(step: Int, layer: Int, transport: any Transport) throws {
        router.route(step: step, rank: rank, layer: layer, inputs: inputs, into: &routed[layer])
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
