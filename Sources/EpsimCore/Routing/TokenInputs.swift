/// Token inputs of the first MoE layer (layer 0); layer l+1 receives x + MoE_l(RMSNorm(x))
/// (see `RMSNorm`).
///
/// Token `i` of `rank` at `step` is the row of H independent N(0, 1) floats (scale 1)
/// drawn from its own stream `SeededRandom.stream(seed, .tokenInputs, step, rank, i)`,
/// entries in order h = 0..<H (Box-Muller pairs used in order). A row therefore depends
/// on (seed, step, rank, i) only: any subset of tokens, on any placement, can be
/// reproduced independently, and the reference sees the same tokens as every layout.
public enum TokenInputs {
    /// Fills `x` [tokens × hidden], row-major, with tokens
    /// `tokenOffset ..< tokenOffset + tokens` of `rank` at `step`.
    public static func fill(
        _ x: UnsafeMutableBufferPointer<Float>,
        seed: UInt64, step: Int, rank: Int, tokenOffset: Int = 0, tokens: Int, hidden: Int
    ) {
        precondition(tokens >= 0 && hidden >= 0 && tokenOffset >= 0)
        precondition(x.count >= tokens * hidden, "inputs buffer holds \(x.count) floats, need \(tokens * hidden)")
        guard tokens > 0, hidden > 0, let base = x.baseAddress else { return }
        let purpose = RandomPurpose.tokenInputs.rawValue
        let stepKey = SeededRandom.key(step), rankKey = SeededRandom.key(rank)
        for t in 0..<tokens {
            var rng = SeededRandom.stream(
                seed: seed, purpose, stepKey, rankKey, SeededRandom.key(tokenOffset + t))
            let row = base + t * hidden
            for h in 0..<hidden { row[h] = Float(rng.nextNormal()) }
        }
    }

    /// The same rows as a new array [tokens × hidden] (tests and tooling).
    public static func make(
        seed: UInt64, step: Int, rank: Int, tokenOffset: Int = 0, tokens: Int, hidden: Int
    ) -> [Float] {
        var x = [Float](repeating: 0, count: tokens * hidden)
        x.withUnsafeMutableBufferPointer {
            fill($0, seed: seed, step: step, rank: rank, tokenOffset: tokenOffset,
                 tokens: tokens, hidden: hidden)
        }
        return x
    }
}
