import EpsimCore

/// The stages of one MoE layer on one rank, in Megatron-Core's terms (listed in data
/// order; the residual and shared experts run before combine postprocess, see
/// `MoELayer`). Each is timed as one of the report's phases (`phase`).
public enum Stage: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// RMSNorm and the router's scores and top-k.
    case route
    /// Capacity and overflow decisions (collective with global capacity scope).
    case capacity
    case dispatchPreprocess, tokenDispatch, dispatchPostprocess
    case expert
    case combinePreprocess, tokenCombine, combinePostprocess
    case shared
    /// `--sync`: the barrier before a communication stage.
    case wait

    /// The phase the stage's time is reported under (docs/semantics.md, Phases).
    public var phase: Phase {
        switch self {
        case .route: return .route
        case .capacity, .dispatchPreprocess, .dispatchPostprocess: return .permute
        case .tokenDispatch: return .dispatch
        case .expert: return .expert
        case .combinePreprocess, .combinePostprocess: return .unpermute
        case .tokenCombine: return .combine
        case .shared: return .shared
        case .wait: return .wait
        }
    }

    public var description: String {
        switch self {
        case .route: return "route"
        case .capacity: return "capacity decisions"
        case .dispatchPreprocess: return "dispatch preprocess"
        case .tokenDispatch: return "token dispatch"
        case .dispatchPostprocess: return "dispatch postprocess"
        case .expert: return "expert"
        case .combinePreprocess: return "combine preprocess"
        case .tokenCombine: return "token combine"
        case .combinePostprocess: return "combine postprocess"
        case .shared: return "shared"
        case .wait: return "wait"
        }
    }
}

/// Which way a payload exchange goes.
public enum ExchangeKind: Sendable { case dispatch, combine }

/// One payload exchange a layer started: its byte matrix and rows.
public struct ExchangeRecord: Sendable {
    public var kind: ExchangeKind
    public var layer: Int
    public var chunk: Int
    public var bytes: ExchangeBytes
    /// Rows this rank sent and received in the exchange.
    public var sendRows: Int
    public var recvRows: Int
}

/// One local expert's block of rows through its FFN.
public struct ExpertBlock: Sendable {
    public var layer: Int
    public var chunk: Int
    public var localExpert: Int
    public var rows: Int
}

/// What watches a rank's steps: one accounting of bytes and rows (`StepAccounting`), the
/// per-step figures (`StepRecorder`), the routing dump, the bench's recorder. The layer
/// reports events as they happen (cheap: no allocation, no communication); `stepFinished`
/// runs after each counted step, outside the timed region, and may be collective.
/// Every method has an empty default.
public protocol StepObserver: AnyObject {
    /// A step (warm-up or counted) begins.
    func stepStarted(_ step: Int)
    /// A payload exchange was started (blocking or not).
    func exchangeStarted(_ exchange: ExchangeRecord)
    /// A local expert computed (or, modeled, would have computed) a block of rows.
    func expertComputed(_ block: ExpertBlock)
    /// Counted step `step` (0-based) of `rank` is done. Collective when the observer
    /// says so; every rank calls it for every counted step.
    func stepFinished(_ step: Int, rank: MoERank, transport: any Transport) throws
}

extension StepObserver {
    public func stepStarted(_ step: Int) {}
    public func exchangeStarted(_ exchange: ExchangeRecord) {}
    public func expertComputed(_ block: ExpertBlock) {}
    public func stepFinished(_ step: Int, rank: MoERank, transport: any Transport) throws {}
}

/// The seam between a rank's layers and what watches them: the timer around every
/// stage, and the observers, notified in the order they were added.
public final class StepObservers {
    /// Times every stage (a fresh, non-recording timer until the run sets one).
    public var timer = PhaseTimer(steps: 0)
    public private(set) var observers: [any StepObserver] = []

    public init() {}

    public func add(_ observer: any StepObserver) { observers.append(observer) }

    /// Runs one stage under the timer.
    @inline(__always)
    func stage<R>(_ stage: Stage, _ body: () throws -> R) rethrows -> R {
        try timer.time(stage, body)
    }

    /// Starts and ends a stage whose values a closure cannot capture (a handle being
    /// consumed).
    @inline(__always)
    func begin(_ stage: Stage) -> PhaseTimer.Mark { timer.begin(stage) }
    @inline(__always)
    func end(_ mark: PhaseTimer.Mark) { timer.end(mark) }

    func stepStarted(_ step: Int) { for o in observers { o.stepStarted(step) } }

    func exchangeStarted(_ e: ExchangeRecord) { for o in observers { o.exchangeStarted(e) } }

    func expertComputed(_ b: ExpertBlock) { for o in observers { o.expertComputed(b) } }

    /// After counted step `step`, in order (an observer may read what an earlier one
    /// summed, as the recorder reads the accounting).
    public func stepFinished(_ step: Int, rank: MoERank, transport: any Transport) throws {
        for o in observers { try o.stepFinished(step, rank: rank, transport: transport) }
    }
}
