import EpsimCore

/// The routing figures behind Switch's load-balancing loss and the importance CV², one
/// block of `width(experts:)` values per rank and layer: per expert the times it was
/// chosen [E], its per-token normalized score summed [E] and its importance [E], then the
/// token count. Each rank adds its own (`add`); the world's sum, in rank order, gives the
/// step's figures (`figures`) and, from its chosen counts, the zero-drop capacity factor
/// (`zeroDropFactor`). A run's `StepRecorder` and `epsim estimate` both count with it.
enum BalanceStatistics {
    /// Values per block: 3E + 1.
    static func width(experts E: Int) -> Int { 3 * E + 1 }

    /// Adds one rank's layer of routing to `stats` [3E + 1]: per expert the times it was
    /// chosen [E], its score normalized per token, summed over tokens [E] (a no-op
    /// normalization for softmax; for sigmoid scores DeepSeek-V3's in its balance loss),
    /// and its importance (slot weights before capacity) [E]; then the token count,
    /// which it sets. Summed over ranks in rank order, these give `figures`.
    static func add(_ out: RouterOutput, into stats: UnsafeMutableBufferPointer<Double>) {
        let E = out.experts, k = out.topK
        precondition(stats.count == width(experts: E), "\(stats.count) statistics for E = \(E)")
        let counts = stats.baseAddress!, scoreSums = counts + E, importance = counts + 2 * E
        out.chosen.withUnsafeBufferPointer { chosen in
            out.weights.withUnsafeBufferPointer { weights in
                out.scores.withUnsafeBufferPointer { scores in
                    for t in 0..<out.tokens {
                        for j in 0..<k {
                            let e = Int(chosen[t * k + j])
                            counts[e] += 1
                            importance[e] += Double(weights[t * k + j])
                        }
                        let s = scores.baseAddress! + t * E
                        var total = 0.0
                        for e in 0..<E { total += Double(s[e]) }
                        if total > 0 {
                            for e in 0..<E { scoreSums[e] += Double(s[e]) / total }
                        }
                    }
                }
            }
        }
        counts[3 * E] = Double(out.tokens)
    }

    /// Switch's load-balancing loss and the importance CV², each the mean over layers,
    /// from the world's `add` per layer (`stats` [layers × (3E + 1)],
    /// then anything else, ignored).
    static func figures(_ stats: [Double], layers: Int, experts E: Int, topK k: Int) -> (aux: Double, cv2: Double) {
        var aux = 0.0, cv2 = 0.0
        for l in 0..<layers {
            let base = l * width(experts: E)
            let tokens = stats[base + 3 * E]
            guard tokens > 0 else { continue }
            var sum = 0.0
            for e in 0..<E {
                let f = stats[base + e] / (tokens * Double(k))
                let p = stats[base + E + e] / tokens
                sum += f * p
            }
            aux += Double(E) * sum
            cv2 += LoadStatistics.cv2(stats[(base + 2 * E)..<(base + 3 * E)])
        }
        return (aux / Double(max(1, layers)), cv2 / Double(max(1, layers)))
    }

    /// The zero-drop capacity factor (`Capacity.zeroDropFactor`) of one block: from its
    /// most chosen expert's count, for `tokens` tokens (a rank's own block with `scope:
    /// local`, the world's with `global`).
    static func zeroDropFactor<Block: Collection<Double>>(_ block: Block, capacity: CapacityConfig, tokens: Int,
                                                          topK k: Int, experts E: Int) -> Double {
        let most = block.prefix(E).max() ?? 0
        return Capacity.zeroDropFactor(capacity, demand: Int(most), tokens: tokens, topK: k, experts: E)
    }
}
