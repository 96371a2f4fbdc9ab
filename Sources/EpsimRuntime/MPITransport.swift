import EpsimCore
import EpsimMPI

/// `Transport` over MPI: one process per rank, started by mpirun or srun.
public final class MPITransport: Transport {
    public let communicator: MPICommunicator
    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }
    public var kindName: String { "mpi" }

    init(communicator: MPICommunicator) {
        self.communicator = communicator
    }

    /// Initializes MPI (failures come back as thrown `MPIError`s from then on).
    public static func initialize() throws -> MPITransport {
        MPITransport(communicator: try MPICommunicator.initialize())
    }

    public func finalize() { communicator.finalize() }

    /// Ends the whole job: every rank exits, none is left waiting.
    public func abort(code: Int32) -> Never { communicator.abort(code: code) }

    /// This rank's host name.
    public var hostName: String { communicator.processorName }

    public var libraryVersion: String { communicator.libraryVersion }

    public func barrier() throws { try communicator.barrier() }

    public func allreduce(_ values: UnsafeMutableBufferPointer<Double>, op: ReduceOp) throws {
        try communicator.allreduce(values, op.mpi)
    }

    public func allreduce(_ values: UnsafeMutableBufferPointer<Int64>, op: ReduceOp) throws {
        try communicator.allreduce(values, op.mpi)
    }

    public func allgather<T: BitwiseCopyable>(
        _ send: UnsafeBufferPointer<T>, into recv: UnsafeMutableBufferPointer<T>
    ) throws {
        guard recv.count == send.count * size else {
            throw TransportError.invalidArgument(
                "allgather: receive buffer holds \(recv.count) elements, need \(send.count) × \(size)")
        }
        try communicator.allgather(send, into: recv)
    }

    public func gatherBytes(_ send: [UInt8], root: Int) throws -> [[UInt8]] {
        guard (0..<size).contains(root) else {
            throw TransportError.invalidArgument("gather: root \(root) is not a rank of 0..<\(size)")
        }
        return try communicator.gatherBytes(send, root: root)
    }

    public func alltoall(_ send: UnsafeBufferPointer<Int>, into recv: UnsafeMutableBufferPointer<Int>) throws {
        guard send.count == size, recv.count == size else {
            throw TransportError.invalidArgument(
                "alltoall: needs one value per rank (\(size)), got \(send.count) and \(recv.count)")
        }
        let ones = Array(repeating: 1, count: size), displs = Array(0..<size)
        try communicator.alltoallv(send: send, sendCounts: ones, sendDispls: displs,
                                   recv: recv, recvCounts: ones, recvDispls: displs)
    }

    public func alltoallv<T: BitwiseCopyable>(
        send: UnsafeBufferPointer<T>, sendCounts: [Int], sendDispls: [Int],
        recv: UnsafeMutableBufferPointer<T>, recvCounts: [Int], recvDispls: [Int]
    ) throws {
        try check(sendCounts, sendDispls, send.count, "send")
        try check(recvCounts, recvDispls, recv.count, "receive")
        try communicator.alltoallv(send: send, sendCounts: sendCounts, sendDispls: sendDispls,
                                   recv: recv, recvCounts: recvCounts, recvDispls: recvDispls)
    }

    public func ialltoallv(
        send: WireBuffer, sendCounts: [Int], sendDispls: [Int],
        recv: WireBuffer, recvCounts: [Int], recvDispls: [Int]
    ) throws -> ExchangeRequest {
        try check(sendCounts, sendDispls, send.byteCount, "send")
        try check(recvCounts, recvDispls, recv.byteCount, "receive")
        let exchange = WireExchange(send: send, recv: recv)
        do {
            let request = try communicator.ialltoallv(
                send: UnsafeRawBufferPointer(exchange.sendBytes), sendCounts: sendCounts, sendDispls: sendDispls,
                recv: exchange.recvBytes, recvCounts: recvCounts, recvDispls: recvDispls,
                owners: [send, recv])
            return ExchangeRequest(MPIPendingExchange(request, exchange))
        } catch {
            exchange.end()
            throw error
        }
    }

    public func promiseExchangeBound(bytes: Int?) {
        communicator.promisedBoundBytes = bytes
    }

    /// The same argument checks as the emulated transport, so misuse fails alike.
    private func check(_ counts: [Int], _ displs: [Int], _ capacity: Int, _ what: String) throws {
        guard counts.count == size, displs.count == size else {
            throw TransportError.invalidArgument(
                "alltoallv: \(what) counts and displacements need \(size) entries, got \(counts.count) and \(displs.count)")
        }
        for p in 0..<size where counts[p] < 0 || displs[p] < 0 || displs[p] + counts[p] > capacity {
            throw TransportError.invalidArgument(
                "alltoallv: \(what) range for rank \(p) (\(displs[p]) + \(counts[p])) exceeds the buffer (\(capacity))")
        }
    }
}

/// A started MPI exchange between two wire buffers: the MPI request holds the buffers
/// and the counts; the buffers are released for use once it has completed.
private final class MPIPendingExchange: PendingExchange {
    let request: MPIRequest
    let exchange: WireExchange

    init(_ request: MPIRequest, _ exchange: WireExchange) {
        self.request = request
        self.exchange = exchange
    }

    func wait() throws {
        guard !exchange.ended else { return }
        defer { exchange.end() }
        try request.wait()
    }

    func test() throws -> Bool {
        guard !exchange.ended else { return true }
        return try request.test()
    }
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
