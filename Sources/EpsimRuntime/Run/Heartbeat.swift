import Synchronization

/// Where one rank is in its run, written by the rank at every phase boundary and read
/// by the `Watchdog` from another thread.
///
/// Three relaxed atomic stores per phase: the cost is a few nanoseconds against phases
/// of microseconds or more. The three positions are read separately, so a report taken
/// while the rank moves may mix two neighbouring positions; it is a diagnosis, not a
/// measurement.
public final class Heartbeat: Sendable {
    /// What a rank can be doing outside the phases of a step (named apart from the
    /// layer's `Stage`).
    public enum Activity: Int, Sendable, CustomStringConvertible {
        case starting = -1, setup = -2, results = -3, verify = -4

        public var description: String {
            switch self {
            case .starting: return "starting"
            case .setup: return "setup (weights, inputs, buffers)"
            case .results: return "gathering results"
            case .verify: return "verification"
            }
        }
    }

    /// Phase boundaries passed so far.
    private let beats = Atomic<Int>(0)
    private let step = Atomic<Int>(-1)
    private let layer = Atomic<Int>(-1)
    /// A `Phase.rawValue`, or an `Activity.rawValue` (negative).
    private let phase = Atomic<Int>(Activity.starting.rawValue)

    public init() {}

    /// The rank starts step `step` (0-based over warm-up and counted steps).
    public func enter(step: Int) {
        self.step.store(step, ordering: .relaxed)
        layer.store(-1, ordering: .relaxed)
        beats.wrappingAdd(1, ordering: .relaxed)
    }

    /// The rank starts `phase` of `layer` (-1: the step itself).
    @inline(__always)
    public func enter(_ phase: Phase, layer: Int) {
        self.layer.store(layer, ordering: .relaxed)
        self.phase.store(phase.rawValue, ordering: .relaxed)
        beats.wrappingAdd(1, ordering: .relaxed)
    }

    /// The rank starts something outside the steps.
    public func enter(_ activity: Activity) {
        phase.store(activity.rawValue, ordering: .relaxed)
        layer.store(-1, ordering: .relaxed)
        beats.wrappingAdd(1, ordering: .relaxed)
    }

    /// Phase boundaries passed so far (changes whenever the rank makes progress).
    public var count: Int { beats.load(ordering: .relaxed) }

    /// Whether the rank is inside the steps (a phase of a step), where the watchdog
    /// applies. Outside them (setup, verification, gathering results, a benchmark's
    /// baselines) a rank may compute for long without a phase boundary, and its peers
    /// wait in a collective for it, so those activities are not watched.
    public var isInsideSteps: Bool { phase.load(ordering: .relaxed) >= 0 }

    /// "step 3, layer 0, phase dispatch", "setup (weights, inputs, buffers)", ...
    public var position: String {
        let code = phase.load(ordering: .relaxed)
        if code < 0 {
            let activity = Activity(rawValue: code) ?? .starting
            return activity == .results || activity == .verify
                ? "\(activity) after step \(step.load(ordering: .relaxed))" : "\(activity)"
        }
        let name = Phase(rawValue: code).map(\.description) ?? "?"
        let layer = self.layer.load(ordering: .relaxed)
        let step = self.step.load(ordering: .relaxed)
        return layer >= 0 ? "step \(step), layer \(layer), phase \(name)" : "step \(step), phase \(name)"
    }
}

/// The heartbeats of the ranks in this process: one under MPI, N with `--emulate N`.
/// Set up by `Launcher` before the ranks start; empty (no watchdog) elsewhere, e.g.
/// in unit tests that call `Simulation.execute` directly.
public enum Heartbeats {
    nonisolated(unsafe) private static var slots: [Heartbeat] = []
    nonisolated(unsafe) private static var firstRank = 0

    /// Installs `count` slots for ranks `firstRank ..< firstRank + count`. Called before
    /// any rank thread starts, so later reads need no lock.
    static func install(count: Int, firstRank: Int) -> [Heartbeat] {
        slots = (0..<count).map { _ in Heartbeat() }
        self.firstRank = firstRank
        return slots
    }

    /// The heartbeat of `rank`, if this process has a watchdog.
    public static func slot(rank: Int) -> Heartbeat? {
        let i = rank - firstRank
        return slots.indices.contains(i) ? slots[i] : nil
    }
}
