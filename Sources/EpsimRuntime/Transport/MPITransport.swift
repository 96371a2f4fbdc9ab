import EpsimCore
import EpsimMPI

/// `Transport` over MPI: one process per rank, started by mpirun or srun.
public final class MPITransport: Transport {
    public let communicator: MPICommunicator
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }
    public var kindName: String { "mpi" }
    public var ranksShareProcess: Bool { false }

    init(communicator: MPICommunicator) {
        self.communicator = communicator
    }

    /// Initializes MPI (its failures come back as `TransportError.mpi` from then on).
    public static func initialize() throws(TransportError) -> MPITransport {
        MPITransport(communicator: try mapped { () throws(MPIError) in try MPICommunicator.initialize() })
    }

    /// Finalizes MPI; safe to call more than once.
    public func finalize() throws(TransportError) { try mapped { () throws(MPIError) in try communicator.finalize() } }

    /// Ends the whole job: every rank exits, none is left waiting.
    public func abort(code: Int32) -> Never { MPICommunicator.abortWorld(code: code) }

    /// This rank's host name.
    public var hostName: String { communicator.processorName }

    public var libraryVersion: String { communicator.libraryVersion }

    public func barrier() throws(TransportError) {
        try mapped { () throws(MPIError) in try communicator.barrier() }
    }

    public func allreduce(_ values: UnsafeMutableBufferPointer<Double>, op: ReduceOp) throws(TransportError) {
        try mapped { () throws(MPIError) in try communicator.allreduce(values, op.mpi) }
    }

    public func allreduce(_ values: UnsafeMutableBufferPointer<Int64>, op: ReduceOp) throws(TransportError) {
        try mapped { () throws(MPIError) in try communicator.allreduce(values, op.mpi) }
    }

    public func allgather<T: BitwiseCopyable>(
        _ send: UnsafeBufferPointer<T>, into recv: UnsafeMutableBufferPointer<T>
    ) throws(TransportError) {
        try CollectiveArguments.checkAllgather(sendCount: send.count, recvCount: recv.count, size: size)
        try mapped { () throws(MPIError) in try communicator.allgather(send, into: recv) }
    }

    public func gatherBytes(_ send: [UInt8], root: Int) throws(TransportError) -> [[UInt8]] {
        try CollectiveArguments.checkRoot(root, size: size)
        return try mapped { () throws(MPIError) in try communicator.gatherBytes(send, root: root) }
    }

    public func alltoall(_ send: UnsafeBufferPointer<Int>, into recv: UnsafeMutableBufferPointer<Int>)
        throws(TransportError) {
        try CollectiveArguments.checkAlltoall(sendCount: send.count, recvCount: recv.count, size: size)
        let ones = Array(repeating: 1, count: size), displs = Array(0..<size)
        try mapped { () throws(MPIError) in
            try communicator.alltoallv(send: send, sendCounts: ones, sendDispls: displs,
                                       recv: recv, recvCounts: ones, recvDispls: displs)
        }
    }

    public func alltoallv<T: BitwiseCopyable>(
        send: UnsafeBufferPointer<T>, sendCounts: [Int], sendDispls: [Int],
        recv: UnsafeMutableBufferPointer<T>, recvCounts: [Int], recvDispls: [Int]
    ) throws(TransportError) {
        try CollectiveArguments.checkAlltoallv(send, sendCounts, sendDispls, recv, recvCounts, recvDispls, size: size)
        try mapped { () throws(MPIError) in
            try communicator.alltoallv(send: send, sendCounts: sendCounts, sendDispls: sendDispls,
                                       recv: recv, recvCounts: recvCounts, recvDispls: recvDispls)
        }
    }

    public func ialltoallv(
        send: WireBuffer, sendCounts: [Int], sendDispls: [Int],
        recv: WireBuffer, recvCounts: [Int], recvDispls: [Int]
    ) throws(TransportError) -> ExchangeRequest {
        try WireExchange.start(send: send, sendCounts: sendCounts, sendDispls: sendDispls,
                               recv: recv, recvCounts: recvCounts, recvDispls: recvDispls, size: size) { s, r throws(TransportError) in
            MPITicket(try mapped { () throws(MPIError) in
                try communicator.ialltoallv(send: s, sendCounts: sendCounts, sendDispls: sendDispls,
                                            recv: r, recvCounts: recvCounts, recvDispls: recvDispls)
            })
        }
    }

    public func promiseExchangeBound(bytes: Int?) {
        communicator.promisedBoundBytes = bytes
    }
}

/// An MPI request as the transport's ticket: MPI's errors become `TransportError`s.
private final class MPITicket: ExchangeTicket {
    let request: MPIRequest

    init(_ request: MPIRequest) { self.request = request }

    func wait() throws(TransportError) { try mapped { () throws(MPIError) in try request.wait() } }

    func test() throws(TransportError) -> Bool { try mapped { () throws(MPIError) in try request.test() } }
}

extension TransportError {
    /// A failed MPI call as the transport reports it, with the same text.
    public init(_ error: MPIError) {
        self = .mpi(error)
    }
}

/// Runs calls of the MPI wrapper and turns their `MPIError` into `TransportError.mpi`:
/// the boundary where MPI's errors become the transport's.
private func mapped<R>(_ body: () throws(MPIError) -> R) throws(TransportError) -> R {
    do { return try body() } catch { throw TransportError(error) }
}

extension ReduceOp {
    fileprivate var mpi: MPICommunicator.Reduction {
        switch self {
        case .sum: return .sum
        case .min: return .min
        case .max: return .max
        }
    }
}
