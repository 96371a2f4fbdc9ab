import EpsimCore

/// One payload exchange a layer started: which way, the layer and chunk, its byte
/// matrix, and its rows on this rank: for a dispatch the rows this rank's experts
/// compute (more than the rows that arrived with `dispatch.dedup: rank`), for a combine
/// the rows that come back.
public struct ExchangeRecord: Sendable {
    public var kind: ExchangeKind
    public var layer: Int
    public var chunk: Int
    public var bytes: ExchangeBytes
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
    private var observers: [any StepObserver] = []

    public init() {}

    public func add(_ observer: any StepObserver) { observers.append(observer) }

    /// Runs one stage under the timer (on overlap chunk `chunk`; -1: none).
    @inline(__always)
    func stage<R>(_ stage: Stage, chunk: Int = -1, _ body: () throws -> R) rethrows -> R {
        try timer.time(stage, chunk: chunk, body)
    }

    /// Starts and ends a stage whose values a closure cannot capture (a handle being
    /// consumed); `bytes`, an exchange's bytes to and from other ranks, goes to the trace.
    @inline(__always)
    func begin(_ stage: Stage, chunk: Int = -1) -> PhaseTimer.Mark { timer.begin(stage, chunk: chunk) }
    @inline(__always)
    func end(_ mark: PhaseTimer.Mark, bytes: (sent: Int, received: Int)? = nil) { timer.end(mark, bytes: bytes) }

    func stepStarted(_ step: Int) { for o in observers { o.stepStarted(step) } }

    func exchangeStarted(_ e: ExchangeRecord) { for o in observers { o.exchangeStarted(e) } }

    func expertComputed(_ b: ExpertBlock) { for o in observers { o.expertComputed(b) } }

    /// After counted step `step`, in the order the observers were added (collective ones
    /// run their collectives in the same order on every rank).
    public func stepFinished(_ step: Int, rank: MoERank, transport: any Transport) throws {
        for o in observers { try o.stepFinished(step, rank: rank, transport: transport) }
    }
}
