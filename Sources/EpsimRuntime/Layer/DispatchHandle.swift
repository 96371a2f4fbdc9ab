import EpsimCore

/// Per-peer byte counts and offsets of one payload exchange, [P] each, as handed to the
/// transport. `sendBytes[p]` is what this rank sent to rank p (itself included).
public struct ExchangeBytes: Sendable, Equatable {
    public var sendBytes: [Int]
    public var sendDispls: [Int]
    public var recvBytes: [Int]
    public var recvDispls: [Int]

    init(ranks: Int) {
        sendBytes = Array(repeating: 0, count: ranks)
        sendDispls = sendBytes
        recvBytes = sendBytes
        recvDispls = sendBytes
    }

    /// Rows per peer and their offsets, in rows of `rowBytes` bytes.
    /// The bytes sent to and received from ranks other than `rank` (what a trace shows
    /// on the exchange's slice).
    func offRank(excluding rank: Int) -> (sent: Int, received: Int) {
        var sent = 0, received = 0
        for p in sendBytes.indices where p != rank {
            sent += sendBytes[p]
            received += recvBytes[p]
        }
        return (sent, received)
    }

    mutating func set(sendRows: [Int], sendDispls: [Int], recvRows: [Int], recvDispls: [Int], rowBytes: Int) {
        for p in sendRows.indices {
            sendBytes[p] = sendRows[p] * rowBytes
            self.sendDispls[p] = sendDispls[p] * rowBytes
            recvBytes[p] = recvRows[p] * rowBytes
            self.recvDispls[p] = recvDispls[p] * rowBytes
        }
    }
}

/// Everything one dispatch of a `TokenDispatcher` uses: the plans, the two wire buffers
/// (the arena the exchanges read and write) and the decoded rows. It cycles between the
/// dispatcher (idle) and a `DispatchHandle` (from dispatch to combine), so a step
/// reuses the previous step's memory.
struct DispatchStorage {
    var send: DispatchPlan
    var receive: ReceivePlan
    /// Dispatch rows go out of `sendWire` into `recvWire`; combine rows go back out of
    /// `recvWire` into `sendWire`.
    let sendWire = WireBuffer()
    let recvWire = WireBuffer()
    /// The received rows decoded in expert-major order [expertRows × H].
    var rows: [Float] = []
    var dispatchBytes: ExchangeBytes
    var combineBytes: ExchangeBytes

    /// The byte matrix of `kind`'s latest payload.
    func bytes(_ kind: ExchangeKind) -> ExchangeBytes { kind == .dispatch ? dispatchBytes : combineBytes }

    /// The buffer `kind`'s payload goes out of, and the one it comes into.
    func wires(_ kind: ExchangeKind) -> (WireBuffer, WireBuffer) {
        kind == .dispatch ? (sendWire, recvWire) : (recvWire, sendWire)
    }

    init(ranks: Int, maxLocalExperts: Int, dedup: DispatchDedup) {
        send = DispatchPlan(ranks: ranks, maxLocalExperts: maxLocalExperts, dedup: dedup)
        receive = ReceivePlan(ranks: ranks, maxLocalExperts: maxLocalExperts, dedup: dedup)
        dispatchBytes = ExchangeBytes(ranks: ranks)
        combineBytes = dispatchBytes
    }
}

/// DeepEP's handle: what `combine` needs to send expert outputs back to the (rank,
/// token, slot) they came from. Made by dispatch preprocess, carried through the
/// dispatch stages and consumed by combine postprocess; it cannot be copied, so a
/// dispatch is combined at most once, and its dispatcher cannot start another dispatch
/// until it has been (`dispatchPreprocess` traps: a handle dropped uncombined is a
/// programming error that shows there).
///
/// Shapes are those of `DispatchPlan` (send side) and `ReceivePlan` (receive side).
public struct DispatchHandle: ~Copyable {
    var storage: DispatchStorage

    init(storage: consuming DispatchStorage) {
        self.storage = storage
    }

    /// The receive side: rows per source rank and local expert (after token dispatch).
    public var receivePlan: ReceivePlan { storage.receive }
    /// Rows sent and rows received (with dedup, one per (token, rank) pair).
    public var sendRows: Int { storage.send.sendRows }
    public var recvRows: Int { storage.receive.recvRows }
    /// Rows this rank's experts compute: the assignments received (= `recvRows`
    /// without dedup, ≥ it with dedup).
    public var expertRows: Int { storage.receive.expertRows }
    /// The byte matrix of the dispatch or combine payload this handle started.
    public func bytes(_ kind: ExchangeKind) -> ExchangeBytes { storage.bytes(kind) }
}

/// What `TokenDispatcher.dispatch` returns, as DeepEP's `dispatch` does: the received
/// rows, the rows per local expert, and the handle `combine` consumes.
@frozen
public struct DispatchOutput: ~Copyable {
    /// The received rows in expert-major order (local expert, then source rank), in the
    /// first expertRows × H values (the array may be longer: it is reused and grown with
    /// headroom): expert l's rows are the `tokensPerExpert[l]` after those of experts
    /// 0..<l. Empty when the rows were not decoded (modeled compute needs none).
    public let rows: [Float]
    /// [L] rows per local expert (DeepEP's `num_recv_tokens_per_expert_list`).
    public let tokensPerExpert: [Int]
    public var handle: DispatchHandle
}

/// A payload exchange in flight and the handle it belongs to: `wait()` gives the handle
/// back once the exchange has completed. Until then the handle's wire buffers trap on
/// access, and dropping this completes the exchange first.
public struct InFlightExchange: ~Copyable {
    var handle: DispatchHandle
    var request: ExchangeRequest

    /// Lets the exchange advance (see `ExchangeRequest.test`); true once complete.
    public func test() throws -> Bool { try request.test() }

    /// Blocks until the exchange has completed and returns the handle.
    public consuming func wait() throws -> DispatchHandle {
        try request.wait()
        return handle
    }
}
