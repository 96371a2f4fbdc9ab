/// The weights of one expert FFN, a function of (seed, layer, expert) only, so every
/// copy of a logical expert, on any rank and in the reference, is identical.
///
/// SwiGLU: y = (silu(x·W1) ⊙ (x·W3))·W2; GELU: y = gelu(x·W1)·W2 (tanh approximation).
/// Shapes, row-major: W1 and W3 [H × F], W2 [F × H]. Entries are N(0, 1/fan_in)
/// (fan_in = H for W1/W3, F for W2), drawn in order W1, W3, W2 from one stream.
public struct ExpertWeights: Sendable {
    public let hidden: Int
    public let ffn: Int
    public let activation: Activation
    public let w1: [Float]
    /// Empty for GELU.
    public let w3: [Float]
    public let w2: [Float]

    /// Routed expert `expert` of `layer`.
    public init(seed: UInt64, layer: Int, expert: Int, model: ModelConfig) {
        self.init(seed: seed, purpose: .expertWeights, layer: layer, index: expert, model: model)
    }

    /// Shared expert `index` of `layer`.
    public init(seed: UInt64, layer: Int, shared index: Int, model: ModelConfig) {
        self.init(seed: seed, purpose: .sharedExpertWeights, layer: layer, index: index, model: model)
    }

    private init(seed: UInt64, purpose: RandomPurpose, layer: Int, index: Int, model: ModelConfig) {
        hidden = model.hidden
        ffn = model.ffn
        activation = model.activation
        var rng = SeededRandom.stream(seed: seed, purpose.rawValue, SeededRandom.key(layer), SeededRandom.key(index))
        func draw(_ count: Int, fanIn: Int) -> [Float] {
            let scale = 1 / Double(fanIn).squareRoot()
            return (0..<count).map { _ in Float(rng.nextNormal() * scale) }
        }
        w1 = draw(hidden * ffn, fanIn: hidden)
        w3 = activation == .swiglu ? draw(hidden * ffn, fanIn: hidden) : []
        w2 = draw(ffn * hidden, fanIn: ffn)
    }

    /// Floating-point operations of `tokens` rows: 2·n·H·F per matrix product.
    public static func flops(tokens: Int, model: ModelConfig) -> Double {
        let matrices: Double = model.activation == .swiglu ? 3 : 2
        return 2 * Double(tokens) * Double(model.hidden) * Double(model.ffn) * matrices
    }
}

/// silu(a) = a / (1 + e^-a).
@inline(__always)
func silu(_ a: Float) -> Float { a / (1 + expf(-a)) }

/// GELU, tanh approximation: 0.5·a·(1 + tanh(√(2/π)·(a + 0.044715·a³))).
@inline(__always)
func gelu(_ a: Float) -> Float {
    0.5 * a * (1 + tanhf(0.797_884_56 * (a + 0.044_715 * a * a * a)))
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
