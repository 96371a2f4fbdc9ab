import EpsimCore

/// The one count of what a rank's layers moved and computed: bytes to each peer per
/// direction, rows its experts computed, bytes it received, per step (reset when a step
/// starts), and the dispatch and combine bytes to each peer summed over counted steps
/// (the traffic matrix's row of this rank).
///
/// Counted from the exchanges as the layer started them (`ExchangeRecord`), so the
/// figures are exactly the byte matrices handed to the transport.
public final class StepAccounting: StepObserver {
    public let ranks: Int
    /// This step, [P] each: bytes sent to each peer (self included) in dispatch and combine.
    public private(set) var dispatchBytes: [Int]
    public private(set) var combineBytes: [Int]
    /// This step, summed over layers: rows this rank's experts computed (dispatch rows
    /// received), and bytes received (dispatch payload from every rank, itself included,
    /// plus the combine payload returned to it).
    public private(set) var rowsComputed = 0
    public private(set) var bytesReceived = 0
    /// Over counted steps: [dispatch bytes to each peer, then combine bytes to each peer].
    public private(set) var traffic: [Int64]

    public init(ranks: Int) {
        self.ranks = ranks
        dispatchBytes = Array(repeating: 0, count: ranks)
        combineBytes = dispatchBytes
        traffic = Array(repeating: 0, count: 2 * ranks)
    }

    public func stepStarted(_ step: Int) {
        for p in 0..<ranks {
            dispatchBytes[p] = 0
            combineBytes[p] = 0
        }
        rowsComputed = 0
        bytesReceived = 0
    }

    public func exchangeStarted(_ e: ExchangeRecord) {
        for p in 0..<ranks {
            if e.kind == .dispatch { dispatchBytes[p] += e.bytes.sendBytes[p] } else { combineBytes[p] += e.bytes.sendBytes[p] }
            bytesReceived += e.bytes.recvBytes[p]
        }
        if e.kind == .dispatch { rowsComputed += e.recvRows }
    }

    public func stepFinished(_ step: Int, rank: MoERank, transport: any Transport) throws {
        for p in 0..<ranks {
            traffic[p] += Int64(dispatchBytes[p])
            traffic[ranks + p] += Int64(combineBytes[p])
        }
    }

    /// Bytes sent this step to other ranks and to itself, both directions.
    public var bytesSent: Int { dispatchBytes.reduce(0, +) + combineBytes.reduce(0, +) }
}
