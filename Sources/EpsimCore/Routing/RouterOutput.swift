/// What the router produces for the T tokens of one rank at one (step, layer).
///
/// Allocated once per run (per rank) and overwritten by every `Router.route` call.
/// All arrays are flat and row-major, one row per token:
/// - `preference` [T × E]: every expert, most preferred first. Without group-limited
///   routing this is all experts in ranking order: by logit descending without a bias;
///   with one, by score + bias computed in Double, equal values by logit; equal logits
///   to the lower expert index (never by the rounded float32 scores, which tie where
///   the logits do not). With it, the k chosen experts come first, then every other
///   expert in ranking order, so rerouting can still walk all E. A router with
///   `Router.fullPreference` false (a layer that drops, which reads no further) writes
///   only the first k entries of each row.
/// - `chosen` [T × k]: the k chosen experts (= the first k entries of `preference`).
/// - `weights` [T × k]: the weight of each chosen slot (see `WeightMode`); the bias
///   never enters a weight.
/// - `logits` [T × E]: the logits routing used (after noise, for gating).
/// - `scores` [T × E]: softmax or sigmoid of `logits` (without the bias).
public struct RouterOutput: Sendable, Equatable {
    /// T: tokens on this rank.
    public let tokens: Int
    /// E: routed experts.
    public let experts: Int
    /// k: experts per token.
    public let topK: Int
    public var preference: [Int32]
    public var chosen: [Int32]
    public var weights: [Float]
    public var logits: [Float]
    public var scores: [Float]

    /// Zero-filled buffers for `tokens` tokens.
    public init(tokens: Int, experts: Int, topK: Int) {
        precondition(tokens >= 0 && experts > 0 && (1...experts).contains(topK))
        self.tokens = tokens
        self.experts = experts
        self.topK = topK
        preference = [Int32](repeating: 0, count: tokens * experts)
        chosen = [Int32](repeating: 0, count: tokens * topK)
        weights = [Float](repeating: 0, count: tokens * topK)
        logits = [Float](repeating: 0, count: tokens * experts)
        scores = [Float](repeating: 0, count: tokens * experts)
    }

    /// Buffers for the tokens of `rank` in a world of `worldSize` ranks.
    public init(config: SimConfig, rank: Int, worldSize: Int) {
        self.init(tokens: config.tokens(rank: rank, size: worldSize),
                  experts: config.model.experts, topK: config.model.topK)
    }

    /// Token `t`'s preference order (a slice; for tests and dumps, not hot loops).
    public func preference(token t: Int) -> ArraySlice<Int32> {
        preference[(t * experts)..<((t + 1) * experts)]
    }

    /// Token `t`'s chosen experts (a slice; for tests and dumps, not hot loops).
    public func chosen(token t: Int) -> ArraySlice<Int32> {
        chosen[(t * topK)..<((t + 1) * topK)]
    }

    /// Token `t`'s slot weights (a slice; for tests and dumps, not hot loops).
    public func weights(token t: Int) -> ArraySlice<Float> {
        weights[(t * topK)..<((t + 1) * topK)]
    }
}
