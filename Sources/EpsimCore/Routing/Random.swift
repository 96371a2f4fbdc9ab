#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a random stream is for: the first key of every `SeededRandom.stream` in epsim,
/// so streams for different purposes never coincide even when their other keys do.
public enum RandomPurpose: UInt64, Sendable {
    /// Token inputs: keys (step, rank, token).
    case tokenInputs = 1
    /// Gate matrix Wg: keys (layer).
    case gateWeights = 2
    /// Noise on gating logits: keys (layer, step, rank, token).
    case gateNoise = 3
    /// Synthetic routing logits: keys (layer, step, rank, token).
    case syntheticRouting = 4
    /// Reserved for routed expert weights: keys (layer, logical expert).
    case expertWeights = 5
    /// Reserved for shared expert weights: keys (layer, shared expert).
    case sharedExpertWeights = 6
}

/// A small, fast, seedable and splittable generator: xoshiro256** for the stream,
/// seeded through SplitMix64 from a seed and a tuple of keys.
///
/// The integer sequence is a pure function of (seed, keys) on every platform.
/// The real-valued draws use only IEEE arithmetic plus `log`, `sqrt`, `cos` and `sin`
/// in Double precision, rounded once to Float where a Float is returned; libm
/// implementations agree to within an ulp, so Float results agree across platforms
/// except in rare rounding-boundary cases, and are bitwise stable on one platform.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    /// The second value of the last Box-Muller pair, if not yet returned.
    private var spareNormal: Double = 0
    private var hasSpareNormal = false

    /// A generator whose state is expanded from `seed` with SplitMix64.
    public init(seed: UInt64) {
        var sm = seed
        s0 = SeededRandom.splitMix64(&sm)
        s1 = SeededRandom.splitMix64(&sm)
        s2 = SeededRandom.splitMix64(&sm)
        s3 = SeededRandom.splitMix64(&sm)
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 }  // all-zero state is a fixed point
    }

    /// A generator with exactly this xoshiro256** state (for tests against published values).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = state
        precondition(s0 | s1 | s2 | s3 != 0, "xoshiro256** state must not be all zero")
    }

    /// The stream for (seed, keys...): the keys are folded in order into one 64-bit
    /// seed, so `stream(seed: s, a, b)`, `stream(seed: s, b, a)` and `stream(seed: s, a)`
    /// are unrelated streams. Negative Ints pass as `UInt64(bitPattern: Int64(x))`.
    /// Cheap enough per token: in optimized builds the variadic array is not allocated.
    @inlinable
    public static func stream(seed: UInt64, _ keys: UInt64...) -> SeededRandom {
        stream(seed: seed, keys: keys)
    }

    /// `stream(seed:_:)` with the keys in an array.
    @inlinable
    public static func stream(seed: UInt64, keys: [UInt64]) -> SeededRandom {
        var h = seedHash(seed)
        for key in keys { h = absorb(h, key) }
        return SeededRandom(seed: h)
    }

    /// An Int key as a stream key (two's complement bit pattern).
    @inline(__always)
    public static func key(_ x: Int) -> UInt64 { UInt64(bitPattern: Int64(x)) }

    /// The next 64 random bits (xoshiro256** 1.0).
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in the open interval (0, 1): safe to take the logarithm of.
    @inline(__always)
    public mutating func nextOpenDouble() -> Double {
        (Double(next() >> 11) + 0.5) * 0x1p-53
    }

    /// Standard normal N(0, 1) by Box-Muller; the pair's second value is returned by
    /// the next call.
    @inline(__always)
    public mutating func nextNormal() -> Double {
        if hasSpareNormal {
            hasSpareNormal = false
            return spareNormal
        }
        let r = (-2 * log(nextOpenDouble())).squareRoot()
        let theta = 2 * Double.pi * nextDouble()
        spareNormal = r * sin(theta)
        hasSpareNormal = true
        return r * cos(theta)
    }

    /// Standard Gumbel(0, 1): -log(-log(u)), u uniform in (0, 1), with `GumbelLog.log`.
    @inline(__always)
    public mutating func nextGumbel() -> Double {
        -GumbelLog.log(-GumbelLog.log(nextOpenDouble()))
    }

    /// The next `n` Gumbel draws into `out`, each exactly `nextGumbel()` in turn (the
    /// uniforms drawn in order, the logarithms four lanes at a time).
    @inline(__always)
    public mutating func fillGumbels(_ out: UnsafeMutablePointer<Double>, count n: Int) {
        for i in 0..<n { out[i] = nextOpenDouble() }
        var i = 0
        while i + 4 <= n {
            let u = SIMD4<Double>(out[i], out[i + 1], out[i + 2], out[i + 3])
            let g = -GumbelLog.log(-GumbelLog.log(u))
            out[i] = g[0]
            out[i + 1] = g[1]
            out[i + 2] = g[2]
            out[i + 3] = g[3]
            i += 4
        }
        while i < n {
            out[i] = -GumbelLog.log(-GumbelLog.log(out[i]))
            i += 1
        }
    }

    // MARK: SplitMix64

    /// One SplitMix64 step: advances `state` and returns the mixed output.
    @inline(__always)
    public static func splitMix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix64(state)
    }

    @inline(__always)
    @usableFromInline
    static func mix64(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    @usableFromInline
    static func seedHash(_ seed: UInt64) -> UInt64 { mix64(seed &+ 0x9E37_79B9_7F4A_7C15) }

    /// Folds one key into the running hash (order matters).
    @inline(__always)
    @usableFromInline
    static func absorb(_ h: UInt64, _ key: UInt64) -> UInt64 {
        mix64((h ^ mix64(key &+ 0x632B_E59B_D9B4_E019)) &+ 0x9E37_79B9_7F4A_7C15)
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
