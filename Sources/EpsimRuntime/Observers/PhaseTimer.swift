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
    /// Timed intervals, when recording: `eventFields` values per interval, [phase, stage
    /// (-1: none), layer (-1: the step), step, chunk (-1: none), start, end, bytes sent,
    /// bytes received (-1: not an exchange)], start and end in seconds since `origin`,
    /// bytes to and from other ranks. Capacity is fixed at init.
    public private(set) var events: [Double]
    public private(set) var eventCount = 0
    /// Whether intervals are recorded for a trace file (`end`'s `bytes` are kept then).
    public var recordsEvents: Bool { !events.isEmpty }
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
    public static let eventFields = 9

    /// One recorded interval, read back from `events` (`event(in:at:)`).
    public struct Event: Sendable, Equatable {
        public var phase: Phase
        public var stage: Stage?
        /// -1 for the step slice.
        public var layer: Int
        public var step: Int
        /// The overlap chunk, nil outside the chunked stages.
        public var chunk: Int?
        /// Seconds since the origin.
        public var start: Double
        public var end: Double
        /// Bytes to and from other ranks, for a token dispatch or combine.
        public var bytes: (sent: Int, received: Int)?

        public static func == (a: Event, b: Event) -> Bool {
            a.phase == b.phase && a.stage == b.stage && a.layer == b.layer && a.step == b.step && a.chunk == b.chunk
                && a.start == b.start && a.end == b.end && a.bytes?.sent == b.bytes?.sent
                && a.bytes?.received == b.bytes?.received
        }
    }

    /// Interval `i` of a flat event array (`events`, or one rank's gathered copy); nil
    /// when it names no phase.
    public static func event(in list: [Double], at i: Int) -> Event? {
        let b = i * eventFields
        func e(_ field: Int) -> Double { list[b + field] }
        guard let phase = Phase(rawValue: Int(e(0))) else { return nil }
        return Event(phase: phase, stage: Stage(rawValue: Int(e(1))), layer: Int(e(2)), step: Int(e(3)),
                     chunk: e(4) >= 0 ? Int(e(4)) : nil, start: e(5), end: e(6),
                     bytes: e(7) >= 0 ? (Int(e(7)), Int(e(8))) : nil)
    }

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
        /// The overlap chunk the interval works on (-1: none).
        let chunk: Int
        let start: Double
    }

    /// Starts timing `phase` (for intervals whose values cannot be captured by a
    /// closure, such as a handle that is consumed). Pair with `end`.
    @inline(__always)
    public func begin(_ phase: Phase, stage: Stage? = nil, chunk: Int = -1) -> Mark {
        heartbeat?.enter(phase, layer: layer)
        return Mark(phase: phase, stage: stage, layer: layer, chunk: chunk, start: current >= 0 ? monotonicSeconds() : 0)
    }

    /// Starts timing one stage of the layer, as its phase (`Stage.phase`), on overlap
    /// chunk `chunk` (-1: none).
    @inline(__always)
    public func begin(_ stage: Stage, chunk: Int = -1) -> Mark { begin(stage.phase, stage: stage, chunk: chunk) }

    /// Ends the interval `mark` began: its time is added to its phase of the current
    /// step, and to its stage when stages are recorded. `bytes` (an exchange's bytes to
    /// and from other ranks) is kept with the recorded interval.
    @inline(__always)
    public func end(_ mark: Mark, bytes: (sent: Int, received: Int)? = nil) {
        guard current >= 0 else { return }
        let end = monotonicSeconds()
        seconds[current * Phase.allCases.count + mark.phase.rawValue] += end - mark.start
        if let stage = mark.stage, !stageSeconds.isEmpty {
            stageSeconds[current * Stage.allCases.count + stage.rawValue] += end - mark.start
        }
        record(mark, end: end, bytes: bytes)
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
    public func time<R>(_ stage: Stage, chunk: Int = -1, _ body: () throws -> R) rethrows -> R {
        let mark = begin(stage, chunk: chunk)
        defer { end(mark) }
        return try body()
    }

    @inline(__always)
    private func record(_ mark: Mark, end: Double, bytes: (sent: Int, received: Int)?) {
        let base = eventCount * PhaseTimer.eventFields
        guard base + PhaseTimer.eventFields <= events.count else { return }
        events[base] = Double(mark.phase.rawValue)
        events[base + 1] = Double(mark.stage?.rawValue ?? -1)
        events[base + 2] = Double(mark.layer)
        events[base + 3] = Double(current)
        events[base + 4] = Double(mark.chunk)
        events[base + 5] = mark.start - origin
        events[base + 6] = end - origin
        events[base + 7] = Double(bytes?.sent ?? -1)
        events[base + 8] = Double(bytes?.received ?? -1)
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
