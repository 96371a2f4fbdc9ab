/// The weights of one expert FFN, a function of (seed, layer, expert) only, so every
/// copy of a logical expert, on any rank and in the reference, is identical.
///
/// SwiGLU: y = (silu(x·W1) ⊙ (x·W3))·W2; GELU: y = gelu(x·W1)·W2 (tanh approximation,
/// see `ExpertActivation`). Row-major shapes: W1 and W3 [H × F], W2 [F × H]. Entries
/// are N(0, 1/fan_in) (fan_in = H for W1/W3, F for W2), so with O(1) inputs every
/// intermediate and the output stay O(1). They are drawn in the order W1, W3, W2, row
/// by row, from the stream (purpose, layer, index): `.expertWeights` for routed experts
/// (index = logical expert), `.sharedExpertWeights` for shared ones (index = s).
public struct ExpertWeights: Sendable {
    /// H.
    public let hidden: Int
    /// F.
    public let ffn: Int
    public let activation: Activation
    /// W1 [H × F].
    public let w1: [Float]
    /// W3 [H × F] for SwiGLU; empty for GELU.
    public let w3: [Float]
    /// W2 [F × H].
    public let w2: [Float]

    /// Bytes of one expert's fp32 matrices: W1, W3 (SwiGLU only) and W2, H·F each.
    public static func bytes(hidden: Int, ffn: Int, activation: Activation) -> Int {
        (activation == .swiglu ? 3 : 2) * hidden * ffn * 4
    }

    /// Routed (logical) expert `expert` of `layer`.
    public init(seed: UInt64, layer: Int, expert: Int, model: ModelConfig) {
        self.init(seed: seed, purpose: .expertWeights, layer: layer, index: expert, model: model)
    }

    /// Shared expert `index` of `layer`.
    public init(seed: UInt64, layer: Int, shared index: Int, model: ModelConfig) {
        self.init(seed: seed, purpose: .sharedExpertWeights, layer: layer, index: index, model: model)
    }

    /// Given matrices (shapes as above; `w3` empty for GELU), e.g. a deliberately
    /// altered copy in a test.
    init(hidden: Int, ffn: Int, activation: Activation, w1: [Float], w3: [Float], w2: [Float]) {
        precondition(w1.count == hidden * ffn && w2.count == ffn * hidden
                     && w3.count == (activation == .swiglu ? hidden * ffn : 0))
        self.hidden = hidden
        self.ffn = ffn
        self.activation = activation
        self.w1 = w1
        self.w3 = w3
        self.w2 = w2
    }

    private init(seed: UInt64, purpose: RandomPurpose, layer: Int, index: Int, model: ModelConfig) {
        precondition(model.hidden > 0 && model.ffn > 0, "expert of size \(model.hidden)×\(model.ffn)")
        hidden = model.hidden
        ffn = model.ffn
        activation = model.activation
        var rng = SeededRandom.stream(seed: seed, purpose.rawValue, SeededRandom.key(layer),
                                      SeededRandom.key(index))
        func draw(_ count: Int, fanIn: Int) -> [Float] {
            let sd = 1 / Double(fanIn).squareRoot()
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                for i in 0..<count { buffer[i] = Float(rng.nextNormal() * sd) }
                initialized = count
            }
        }
        w1 = draw(hidden * ffn, fanIn: hidden)
        w3 = activation == .swiglu ? draw(hidden * ffn, fanIn: hidden) : []
        w2 = draw(ffn * hidden, fanIn: ffn)
    }
}
