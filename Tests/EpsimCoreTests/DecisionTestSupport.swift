import EpsimCore

/// SplitMix64: a tiny seeded generator for test inputs, independent of the code under test.
struct TestRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Hand-written router output: per token, its full preference order and the weights
/// of its first k choices.
func choices(_ tokens: [(pref: [Int], weights: [Float])]) -> RankChoices {
    let k = tokens.first?.weights.count ?? 1
    return RankChoices(
        tokens: tokens.count,
        preference: tokens.flatMap { $0.pref.map(Int32.init) },
        chosen: tokens.flatMap { $0.pref.prefix(k).map(Int32.init) },
        weights: tokens.flatMap(\.weights))
}

/// Random router output: skewed preference orders (low expert ids are more popular)
/// and weights with deliberate ties, so priorities and tie-breaks matter.
func randomChoices(tokens: Int, experts: Int, topK: Int, rng: inout TestRandom) -> RankChoices {
    var pref: [Int32] = []
    var weights: [Float] = []
    for _ in 0..<tokens {
        let keys = (0..<experts).map { e in Double.random(in: 0..<1, using: &rng) / Double(e + 1) }
        let order = (0..<experts).sorted { keys[$0] > keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
        pref += order.map(Int32.init)
        weights += (0..<topK).map { _ in Float(Int.random(in: 1...8, using: &rng)) / 8 }
    }
    var chosen: [Int32] = []
    for t in 0..<tokens { chosen += pref[(t * experts)..<(t * experts + topK)] }
    return RankChoices(tokens: tokens, preference: pref, chosen: chosen, weights: weights)
}

/// Runs the fast path for one rank with local scope (no rounds to exchange).
func fastDecisions(_ config: SimConfig, _ layout: ExpertLayout, rank: Int, _ c: RankChoices,
                   totalTokens: Int? = nil, reusing previous: RoutingDecisions = RoutingDecisions(),
                   decider: CapacityDecider? = nil) -> RoutingDecisions {
    let decider = decider ?? CapacityDecider(config: config, layout: layout)
    begin(decider, rank: rank, c, totalTokens: totalTokens ?? c.tokens)
    precondition(decider.isFinished, "a local decision is finished by begin")
    var out = previous
    decider.finish(into: &out)
    return out
}

/// Runs the fast path for every rank of a world, driving the rounds of `scope: global`
/// in lockstep: each round, every rank's `demand` is gathered in rank order and the
/// same [P × E] world demand is admitted on every rank. Returns the decisions per rank.
func worldDecisions(_ config: SimConfig, _ layout: ExpertLayout, _ inputs: [RankChoices],
                    deciders given: [CapacityDecider]? = nil) -> [RoutingDecisions] {
    let deciders = given ?? inputs.map { _ in CapacityDecider(config: config, layout: layout) }
    let total = inputs.reduce(0) { $0 + $1.tokens }
    for (r, c) in inputs.enumerated() { begin(deciders[r], rank: r, c, totalTokens: total) }
    while !deciders[0].isFinished {
        let world = deciders.flatMap(\.demand)
        for (r, d) in deciders.enumerated() {
            precondition(!d.isFinished, "every rank finishes in the same round")
            inputs[r].preference.withUnsafeBufferPointer { d.admit(worldDemand: world, preference: $0) }
        }
    }
    return deciders.map { d in
        precondition(d.isFinished, "every rank finishes in the same round")
        var out = RoutingDecisions()
        d.finish(into: &out)
        return out
    }
}

func begin(_ decider: CapacityDecider, rank: Int, _ c: RankChoices, totalTokens: Int) {
    c.preference.withUnsafeBufferPointer { pref in
        c.chosen.withUnsafeBufferPointer { chosen in
            c.weights.withUnsafeBufferPointer { w in
                decider.begin(rank: rank, tokens: c.tokens, totalTokens: totalTokens,
                              preference: pref, chosen: chosen, weights: w)
            }
        }
    }
}

extension RoutingDecisions {
    /// The per-slot decisions and counters, without bookkeeping that differs by design
    /// between implementations (exchange rounds).
    var comparable: RoutingDecisions {
        var copy = self
        copy.exchangeRounds = 0
        return copy
    }
}
