#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The phases every report names (DESIGN.md): route, permute (capacity, reroute,
/// bucketing, packing, and the receiver's reordering), dispatch (counts + payload),
/// expert, combine (payload back), unpermute (reordering and the weighted scatter back
/// to tokens), shared, wait (with `--sync` only: the barrier before each communication
/// phase, i.e. waiting for the slowest rank), and step (the whole step).
public enum Phase: Int, CaseIterable, Sendable, CustomStringConvertible {
    case route, permute, dispatch, expert, combine, unpermute, shared, wait, step

    public var description: String {
        switch self {
        case .route: return "route"
        case .permute: return "permute"
        case .dispatch: return "dispatch"
        case .expert: return "expert"
        case .combine: return "combine"
        case .unpermute: return "unpermute"
        case .shared: return "shared"
        case .wait: return "wait"
        case .step: return "step"
        }
    }

    /// Phases that move data between ranks.
    public var isCommunication: Bool { self == .dispatch || self == .combine }

    /// The phases inside a step, in the order a layer runs them (step excluded).
    public static let inside: [Phase] = [.route, .permute, .dispatch, .expert, .combine, .unpermute, .shared, .wait]
}

/// Seconds on a monotonic clock (CLOCK_MONOTONIC), for timing phases.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// One rank's phase times: seconds per (counted step, phase), summed over layers, and
/// optionally every timed interval (for trace files). Storage for every counted step is
/// allocated up front; timing a phase allocates nothing.
public final class PhaseTimer {
    public let steps: Int
    /// [steps × Phase.allCases.count], row-major.
    public private(set) var seconds: [Double]
    /// Timed intervals, when recording: [phase, layer, step, start, end] per interval,
    /// start and end in seconds since `origin`. Capacity is fixed at init.
    public private(set) var events: [Double]
    public private(set) var eventCount = 0
    /// The monotonic time events are measured from (set by `start`).
    public private(set) var origin = 0.0
    /// The layer being timed (recorded with each event; -1 for the step itself).
    public var layer = 0
    private var current = -1
    /// Where this rank is, for the watchdog; updated at every phase, warm-up included.
    public var heartbeat: Heartbeat?

    /// [steps × Stage.allCases.count] when stages are recorded (`epsim bench`), else [].
    public private(set) var stageSeconds: [Double]

    /// `eventsPerStep` > 0 records up to that many intervals per counted step;
    /// `stages` also keeps seconds per (counted step, stage).
    public init(steps: Int, eventsPerStep: Int = 0, stages: Bool = false) {
        self.steps = steps
        seconds = Array(repeating: 0, count: steps * Phase.allCases.count)
        stageSeconds = stages ? Array(repeating: 0, count: steps * Stage.allCases.count) : []
        events = Array(repeating: 0, count: steps * eventsPerStep * PhaseTimer.eventFields)
    }

    /// Fields per recorded interval.
    public static let eventFields = 5

    /// Sets the origin of event times to now (call right after a barrier).
    public func start() { origin = monotonicSeconds() }

    /// Starts recording counted step `step` (0-based); -1 records nothing (warm-up).
    public func begin(step: Int) { current = step }

    /// An interval being timed: what `begin` returns and `end` takes.
    public struct Mark {
        let phase: Phase
        /// The layer stage, when the interval is one (kept on its own with `stages`).
        let stage: Stage?
        let layer: Int
        let start: Double
    }

    /// Starts timing `phase` (for intervals whose values cannot be captured by a
    /// closure, such as a handle that is consumed). Pair with `end`.
    @inline(__always)
    public func begin(_ phase: Phase, stage: Stage? = nil) -> Mark {
        heartbeat?.enter(phase, layer: layer)
        return Mark(phase: phase, stage: stage, layer: layer, start: current >= 0 ? monotonicSeconds() : 0)
    }

    /// Starts timing one stage of the layer, as its phase (`Stage.phase`).
    @inline(__always)
    public func begin(_ stage: Stage) -> Mark { begin(stage.phase, stage: stage) }

    /// Ends the interval `mark` began: its time is added to its phase of the current
    /// step, and to its stage when stages are recorded.
    @inline(__always)
    public func end(_ mark: Mark) {
        guard current >= 0 else { return }
        let end = monotonicSeconds()
        seconds[current * Phase.allCases.count + mark.phase.rawValue] += end - mark.start
        if let stage = mark.stage, !stageSeconds.isEmpty {
            stageSeconds[current * Stage.allCases.count + stage.rawValue] += end - mark.start
        }
        record(mark.phase, layer: mark.layer, start: mark.start, end: end)
    }

    /// Runs `body` and adds its duration to `phase` of the current step.
    @inline(__always)
    public func time<R>(_ phase: Phase, _ body: () throws -> R) rethrows -> R {
        let mark = begin(phase)
        defer { end(mark) }
        return try body()
    }

    /// Runs one stage of the layer under `begin`/`end`.
    @inline(__always)
    public func time<R>(_ stage: Stage, _ body: () throws -> R) rethrows -> R {
        let mark = begin(stage)
        defer { end(mark) }
        return try body()
    }

    @inline(__always)
    private func record(_ phase: Phase, layer: Int, start: Double, end: Double) {
        let base = eventCount * PhaseTimer.eventFields
        guard base + PhaseTimer.eventFields <= events.count else { return }
        events[base] = Double(phase.rawValue)
        events[base + 1] = Double(layer)
        events[base + 2] = Double(current)
        events[base + 3] = start - origin
        events[base + 4] = end - origin
        eventCount += 1
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
