import EpsimMPI

/// The collective operations the simulator needs, with one rank's view of them.
///
/// Two implementations share these semantics exactly: `MPITransport` (one process per
/// rank, Open MPI underneath) and `EmulatedTransport` (N ranks as threads of one
/// process). The simulation loop is written against this protocol only, so it cannot
/// tell which one it has.
///
/// Rules every caller follows, as with MPI communicators:
/// - every rank calls the same collectives in the same order;
/// - a transport object belongs to one rank and is used from one thread at a time;
/// - counts and displacements are in elements of `T`, one entry per rank;
/// - buffers handed to a non-blocking call stay valid and untouched until `wait()`
///   has returned.
///
/// Every method throws `TransportError` and nothing else (`throws(TransportError)`): a
/// failed peer (`peerFailed`, instead of hanging), arguments that break the collective's
/// contract (`invalidArgument`), or a failed call of the MPI library (`mpi`).
public protocol Transport: AnyObject {
    /// This rank, in `0..<size`.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// A short name for reports: "mpi" or "emulated".
    var kindName: String { get }
    /// Whether all ranks live in this one process (emulated ranks, threads of it),
    /// rather than one process per rank (MPI): their memory and configuration checks
    /// are the process's, counted once.
    var ranksShareProcess: Bool { get }
    /// The host this rank runs on, for reports.
    var hostName: String { get }
    /// The communication library underneath, for reports (e.g. Open MPI's version).
    var libraryVersion: String { get }

    /// Blocks until every rank has called `barrier()`.
    func barrier() throws(TransportError)

    /// Element-wise reduction across ranks; every rank receives the result in place.
    func allreduce(_ values: UnsafeMutableBufferPointer<Double>, op: ReduceOp) throws(TransportError)
    /// Element-wise reduction across ranks; every rank receives the result in place.
    func allreduce(_ values: UnsafeMutableBufferPointer<Int64>, op: ReduceOp) throws(TransportError)

    /// Every rank contributes `send.count` elements (the same count on every rank);
    /// `recv.count == size * send.count` and receives rank r's block at `r * send.count`.
    func allgather<T: BitwiseCopyable>(
        _ send: UnsafeBufferPointer<T>, into recv: UnsafeMutableBufferPointer<T>) throws(TransportError)

    /// Variable-size gather of raw bytes to `root`. Returns one array per rank on
    /// `root` (index = source rank) and an empty array elsewhere.
    func gatherBytes(_ send: [UInt8], root: Int) throws(TransportError) -> [[UInt8]]

    /// Fixed-size all-to-all: `send[p]` goes to rank p and arrives at `recv[rank]`
    /// there; `send.count == recv.count == size`. Used to exchange counts.
    func alltoall(_ send: UnsafeBufferPointer<Int>, into recv: UnsafeMutableBufferPointer<Int>)
        throws(TransportError)

    /// Variable all-to-all: `sendCounts[p]` elements starting at `sendDispls[p]` of
    /// `send` go to rank p, where they land at `recvDispls[rank]` of its `recv`.
    /// Counts of any size are allowed (the MPI implementation splits counts that do
    /// not fit MPI's `int`).
    func alltoallv<T: BitwiseCopyable>(
        send: UnsafeBufferPointer<T>, sendCounts: [Int], sendDispls: [Int],
        recv: UnsafeMutableBufferPointer<T>, recvCounts: [Int], recvDispls: [Int]) throws(TransportError)

    /// Non-blocking variable all-to-all of bytes between two wire buffers: counts and
    /// displacements in bytes, as in `alltoallv`. The returned request holds both buffers
    /// (and its own copy of the counts) until the exchange completes, and the buffers
    /// trap on any access until then. `wait()` consumes the request; a request dropped
    /// without it is completed on the spot (see `ExchangeRequest`).
    func ialltoallv(
        send: WireBuffer, sendCounts: [Int], sendDispls: [Int],
        recv: WireBuffer, recvCounts: [Int], recvDispls: [Int]
    ) throws(TransportError) -> ExchangeRequest

    /// Promises that, until the next call, no rank's exchange has a count or
    /// displacement above `bytes` bytes (nil withdraws the promise). Every rank must
    /// promise the same value, derived from data they agree on (the layout). The MPI
    /// transport then knows without asking its peers that every exchange fits one MPI
    /// call, and skips the agreement (one MPI_Allreduce) it otherwise makes per exchange.
    func promiseExchangeBound(bytes: Int?)
}

/// A started non-blocking exchange, as DeepEP and MPI have them: it cannot be copied,
/// `wait()` consumes it, and one dropped without `wait()` (an error thrown between post
/// and wait) is completed before it goes, as rsmpi's `WaitGuard` does, so no exchange
/// outlives the buffers it writes into. Errors of such a completion are ignored: the
/// error that caused the drop is the one reported.
public struct ExchangeRequest: ~Copyable {
    /// The started exchange: both wire buffers and the transport's ticket.
    private let pending: WireExchange

    init(_ pending: WireExchange) {
        self.pending = pending
    }

    /// Blocks until the exchange has completed; its buffers may then be used again.
    public consuming func wait() throws(TransportError) {
        try pending.wait()
    }

    /// Lets the exchange advance without blocking (MPI libraries progress non-blocking
    /// collectives only inside their calls, so overlapped work calls this between
    /// pieces); true once it has completed, on either transport. `wait()` is still
    /// required (it then returns at once) and releases the buffers.
    public func test() throws(TransportError) -> Bool {
        try pending.test()
    }

    deinit {
        try? pending.wait()
    }
}

extension Transport {
    /// Transports whose exchanges need no agreement on their path ignore the promise.
    public func promiseExchangeBound(bytes: Int?) {}
}

/// Reduction operators for `Transport.allreduce`.
public enum ReduceOp: Sendable, CaseIterable {
    case sum, min, max
}

/// Everything a `Transport` throws, on either implementation.
public enum TransportError: Error, Equatable, CustomStringConvertible {
    /// Another rank failed; this rank stopped waiting for it. Thrown by the emulated
    /// transport to the failed rank's peers. Under MPI the failed rank ends the job
    /// (MPI_Abort), so its peers never return; either way the one line printed is the
    /// failed rank's own error, as `rank r: <error>` (see `Launcher`).
    case peerFailed(rank: Int, reason: String)
    /// Arguments that violate the collective's contract (wrong counts, bad root, ranks
    /// that called different collectives, ...). Checked alike on both transports.
    case invalidArgument(String)
    /// A call of the MPI library failed: the MPI wrapper's error (the call's name, MPI's
    /// error code and MPI's text for it), as the MPI transport received it.
    case mpi(MPIError)

    public var description: String {
        switch self {
        case let .peerFailed(rank, reason): return "rank \(rank) failed: \(reason)"
        case let .invalidArgument(what): return "invalid collective arguments: \(what)"
        case let .mpi(error): return error.description
        }
    }
}

extension Transport {
    /// Convenience: reduces an array and returns the result.
    public func allreduce(_ values: [Double], op: ReduceOp) throws(TransportError) -> [Double] {
        var result = values
        try result.withUnsafeMutableBufferPointer { (buffer) throws(TransportError) in try allreduce(buffer, op: op) }
        return result
    }

    /// Convenience: reduces an array and returns the result.
    public func allreduce(_ values: [Int64], op: ReduceOp) throws(TransportError) -> [Int64] {
        var result = values
        try result.withUnsafeMutableBufferPointer { (buffer) throws(TransportError) in try allreduce(buffer, op: op) }
        return result
    }

    /// Convenience: gathers `values` (same count on every rank) from all ranks.
    public func allgather<T: BitwiseCopyable>(_ values: [T]) throws(TransportError) -> [T] {
        // The count is the same on every rank, so an empty call is skipped everywhere.
        guard let first = values.first else { return [] }
        var result = Array(repeating: first, count: values.count * size)
        try values.withUnsafeBufferPointer { (send) throws(TransportError) in
            try result.withUnsafeMutableBufferPointer { (recv) throws(TransportError) in
                try allgather(send, into: recv)
            }
        }
        return result
    }

    /// Convenience: every rank's `values` (any count per rank) on `root`, in rank order;
    /// [] on the other ranks. Built on `gatherBytes`.
    public func gatherArrays<T: BitwiseCopyable>(_ values: [T], root: Int = 0) throws(TransportError) -> [[T]] {
        let bytes = values.withUnsafeBytes { Array($0) }
        let stride = MemoryLayout<T>.stride
        return try gatherBytes(bytes, root: root).map { piece in
            piece.withUnsafeBytes { raw in
                (0..<(raw.count / stride)).map { raw.loadUnaligned(fromByteOffset: $0 * stride, as: T.self) }
            }
        }
    }

    /// Convenience: gathers `values` (same count on every rank) to `root`, in rank
    /// order, as `allgather` lays them out; [] on the other ranks. For figures only rank
    /// 0 reports: unlike `allgather`, no rank but the root holds P copies, so emulated
    /// ranks sharing one process need O(P × count) memory in all, not O(P² × count).
    public func gather<T: BitwiseCopyable>(_ values: [T], root: Int = 0) throws(TransportError) -> [T] {
        let pieces = try gatherArrays(values, root: root)
        precondition(pieces.allSatisfy { $0.count == values.count }, "gather needs the same count on every rank")
        return Array(pieces.joined())
    }

    /// Convenience: exchanges one `Int` with every rank.
    public func alltoall(_ values: [Int]) throws(TransportError) -> [Int] {
        precondition(values.count == size, "alltoall needs one value per rank")
        var result = [Int](repeating: 0, count: size)
        try values.withUnsafeBufferPointer { (send) throws(TransportError) in
            try result.withUnsafeMutableBufferPointer { (recv) throws(TransportError) in
                try alltoall(send, into: recv)
            }
        }
        return result
    }
}
