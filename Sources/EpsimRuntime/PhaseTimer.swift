#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The phases every report names (DESIGN.md): route, permute (capacity, reroute,
/// bucketing, packing, and the receiver's reordering), dispatch (counts + payload),
/// expert, combine (payload back), unpermute (reordering and the weighted scatter back
/// to tokens), shared, and step (the whole step).
public enum Phase: Int, CaseIterable, Sendable, CustomStringConvertible {
    case route, permute, dispatch, expert, combine, unpermute, shared, step

    public var description: String {
        switch self {
        case .route: return "route"
        case .permute: return "permute"
        case .dispatch: return "dispatch"
        case .expert: return "expert"
        case .combine: return "combine"
        case .unpermute: return "unpermute"
        case .shared: return "shared"
        case .step: return "step"
        }
    }

    /// Phases that move data between ranks.
    public var isCommunication: Bool { self == .dispatch || self == .combine }
}

/// Seconds on a monotonic clock (CLOCK_MONOTONIC), for timing phases.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// One rank's phase times: seconds per (counted step, phase), summed over layers.
/// Storage for every counted step is allocated up front.
public final class PhaseTimer {
    public let steps: Int
    /// [steps × Phase.allCases.count], row-major.
    public private(set) var seconds: [Double]
    private var current = -1

    public init(steps: Int) {
        self.steps = steps
        seconds = Array(repeating: 0, count: steps * Phase.allCases.count)
    }

    /// Starts recording counted step `step` (0-based); -1 records nothing (warm-up).
    public func begin(step: Int) { current = step }

    /// Runs `body` and adds its duration to `phase` of the current step.
    @inline(__always)
    public func time<R>(_ phase: Phase, _ body: () throws -> R) rethrows -> R {
        guard current >= 0 else { return try body() }
        let start = monotonicSeconds()
        defer { seconds[current * Phase.allCases.count + phase.rawValue] += monotonicSeconds() - start }
        return try body()
    }

    /// Seconds of `phase` in counted step `step`.
    public func value(step: Int, phase: Phase) -> Double {
        seconds[step * Phase.allCases.count + phase.rawValue]
    }
}

/// Sleeps `seconds` on the monotonic clock (nanosleep, resumed after interruptions).
public func preciseSleep(_ seconds: Double) {
    guard seconds > 0 else { return }
    let whole = seconds.rounded(.down)
    var request = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
