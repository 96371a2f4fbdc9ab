/// A logit the router cannot rank: NaN or ±infinity. `Router` and `ReferenceRouter`
/// check every logit before scoring and throw this instead of routing on it (a NaN
/// would otherwise sort anywhere and give NaN weights).
///
/// The description is one line naming the value, where it sits and where it came from,
/// e.g. `router: non-finite logit inf at layer 0, rank 1, token 3, expert 5 from the
/// gating noise; router.noise_std = 1e+39 is too large for float32 logits`.
public struct RoutingError: Error, Equatable, CustomStringConvertible {
    /// Where a logit came from.
    public enum Source: Equatable, Sendable {
        /// x · Wg; `inputFinite` tells whether the token's input row was finite.
        case gatingProduct(inputFinite: Bool)
        /// x · Wg + noise_std · N(0, 1).
        case gatingNoise(std: Double)
        /// A synthetic workload (uniform, zipf, hot), by name.
        case synthetic(String)
        /// A replayed trace: the file and the row of it.
        case trace(file: String, row: Int)
    }

    public var value: Float
    public var layer: Int
    public var rank: Int
    public var token: Int
    public var expert: Int
    public var source: Source

    public init(value: Float, layer: Int, rank: Int, token: Int, expert: Int, source: Source) {
        self.value = value
        self.layer = layer
        self.rank = rank
        self.token = token
        self.expert = expert
        self.source = source
    }

    public var description: String {
        let at = "router: non-finite logit \(value) at layer \(layer), rank \(rank), token \(token), expert \(expert)"
        switch source {
        case .gatingProduct(inputFinite: false):
            return at + " from the gating product x · Wg; the token's input row is not finite"
        case .gatingProduct(inputFinite: true):
            return at + " from the gating product x · Wg; the token's input row is too large for float32 logits"
        case let .gatingNoise(std):
            return at + " from the gating noise; router.noise_std = \(std) is too large for float32 logits"
        case let .synthetic(name):
            return at + " from the \(name) workload"
        case let .trace(file, row):
            return at + " from the trace \(file), row \(row), column \(expert); logits must be finite"
        }
    }

    /// Equal fields, any NaN equal to any NaN (the value is the point of the error).
    public static func == (a: RoutingError, b: RoutingError) -> Bool {
        (a.value == b.value || (a.value.isNaN && b.value.isNaN)) && a.layer == b.layer && a.rank == b.rank
            && a.token == b.token && a.expert == b.expert && a.source == b.source
    }

    /// Index of the first NaN or infinity in `values`, or nil.
    @inline(__always)
    static func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> Int? {
        for i in values.indices where !values[i].isFinite { return i }
        return nil
    }
}
