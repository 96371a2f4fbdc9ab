#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EpsimCore

/// One rank's view of an `EmulatedWorld`: the `Transport` semantics of MPI, with data
/// copied directly between the ranks' own buffers. Belongs to one thread.
public final class EmulatedTransport: Transport {
    public let world: EmulatedWorld
    public let rank: Int
    public var size: Int { world.size }
    public var kindName: String { "emulated" }
    public var ranksShareProcess: Bool { true }

    /// The process's host (every emulated rank shares it).
    public var hostName: String { localHostName() }

    public var libraryVersion: String { "emulated (threads, shared memory)" }

    init(world: EmulatedWorld, rank: Int) {
        self.world = world
        self.rank = rank
    }

    public func barrier() throws(TransportError) {
        let none = [Int](repeating: 0, count: size)
        try exchange(EmulatedDeposit(operation: .barrier, send: nil, sendCounts: none, sendDispls: none,
                                     recv: nil, recvCounts: none, recvDispls: none))
    }

    public func allreduce(_ values: UnsafeMutableBufferPointer<Double>, op: ReduceOp) throws(TransportError) {
        try reduce(values, op: op)
    }

    public func allreduce(_ values: UnsafeMutableBufferPointer<Int64>, op: ReduceOp) throws(TransportError) {
        try reduce(values, op: op)
    }

    public func allgather<T: BitwiseCopyable>(
        _ send: UnsafeBufferPointer<T>, into recv: UnsafeMutableBufferPointer<T>
    ) throws(TransportError) {
        try allgather(send, into: recv, operation: .allgather)
    }

    private func allgather<T: BitwiseCopyable>(
        _ send: UnsafeBufferPointer<T>, into recv: UnsafeMutableBufferPointer<T>, operation: EmulatedOperation
    ) throws(TransportError) {
        try CollectiveArguments.checkAllgather(sendCount: send.count, recvCount: recv.count, size: size)
        let bytes = send.count * MemoryLayout<T>.stride
        try exchange(EmulatedDeposit(
            operation: operation,
            send: UnsafeRawPointer(send.baseAddress), sendCounts: Array(repeating: bytes, count: size),
            sendDispls: Array(repeating: 0, count: size),
            recv: UnsafeMutableRawPointer(recv.baseAddress), recvCounts: Array(repeating: bytes, count: size),
            recvDispls: (0..<size).map { $0 * bytes }))
    }

    public func gatherBytes(_ send: [UInt8], root: Int) throws(TransportError) -> [[UInt8]] {
        try CollectiveArguments.checkRoot(root, size: size)
        var sizes = [Int](repeating: 0, count: size)
        try [send.count].withUnsafeBufferPointer { (mine) throws(TransportError) in
            try sizes.withUnsafeMutableBufferPointer { (all) throws(TransportError) in
                try allgather(mine, into: all, operation: .gather)
            }
        }
        let total = rank == root ? sizes.reduce(0, +) : 0
        var recv = [UInt8](repeating: 0, count: total)
        var displs = [Int](repeating: 0, count: size)
        if rank == root { for r in 1..<max(1, size) { displs[r] = displs[r - 1] + sizes[r - 1] } }
        let recvCounts = rank == root ? sizes : Array(repeating: 0, count: size)
        var sendCounts = Array(repeating: 0, count: size)
        sendCounts[root] = send.count
        try send.withUnsafeBufferPointer { (s) throws(TransportError) in
            try recv.withUnsafeMutableBufferPointer { (r) throws(TransportError) in
                try exchange(EmulatedDeposit(
                    operation: .gather,
                    send: UnsafeRawPointer(s.baseAddress), sendCounts: sendCounts,
                    sendDispls: Array(repeating: 0, count: size),
                    recv: UnsafeMutableRawPointer(r.baseAddress), recvCounts: recvCounts, recvDispls: displs))
            }
        }
        guard rank == root else { return [] }
        return (0..<size).map { Array(recv[displs[$0]..<(displs[$0] + sizes[$0])]) }
    }

    public func alltoall(_ send: UnsafeBufferPointer<Int>, into recv: UnsafeMutableBufferPointer<Int>)
        throws(TransportError) {
        try CollectiveArguments.checkAlltoall(sendCount: send.count, recvCount: recv.count, size: size)
        let ones = Array(repeating: 1, count: size), displs = Array(0..<size)
        try post(send: send, sendCounts: ones, sendDispls: displs,
                 recv: recv, recvCounts: ones, recvDispls: displs, operation: .alltoall).wait()
    }

    public func alltoallv<T: BitwiseCopyable>(
        send: UnsafeBufferPointer<T>, sendCounts: [Int], sendDispls: [Int],
        recv: UnsafeMutableBufferPointer<T>, recvCounts: [Int], recvDispls: [Int]
    ) throws(TransportError) {
        try CollectiveArguments.checkAlltoallv(send, sendCounts, sendDispls, recv, recvCounts, recvDispls, size: size)
        try post(send: send, sendCounts: sendCounts, sendDispls: sendDispls,
                 recv: recv, recvCounts: recvCounts, recvDispls: recvDispls, operation: .alltoallv).wait()
    }

    public func ialltoallv(
        send: WireBuffer, sendCounts: [Int], sendDispls: [Int],
        recv: WireBuffer, recvCounts: [Int], recvDispls: [Int]
    ) throws(TransportError) -> ExchangeRequest {
        try WireExchange.start(send: send, sendCounts: sendCounts, sendDispls: sendDispls,
                               recv: recv, recvCounts: recvCounts, recvDispls: recvDispls, size: size) { s, r throws(TransportError) in
            try post(send: s.bindMemory(to: UInt8.self), sendCounts: sendCounts, sendDispls: sendDispls,
                     recv: r.bindMemory(to: UInt8.self), recvCounts: recvCounts, recvDispls: recvDispls,
                     operation: .ialltoallv)
        }
    }

    /// Deposits this rank's side of an exchange (counts and displacements in elements
    /// of `T`, already checked by the caller or valid by construction).
    private func post<T: BitwiseCopyable>(
        send: UnsafeBufferPointer<T>, sendCounts: [Int], sendDispls: [Int],
        recv: UnsafeMutableBufferPointer<T>, recvCounts: [Int], recvDispls: [Int], operation: EmulatedOperation
    ) throws(TransportError) -> EmulatedRequest {
        let stride = MemoryLayout<T>.stride
        // In bytes; elements of one byte (every `ialltoallv`) are already bytes.
        func bytes(_ elements: [Int]) -> [Int] { stride == 1 ? elements : elements.map { $0 * stride } }
        let id = try world.deposit(rank: rank, EmulatedDeposit(
            operation: operation,
            send: UnsafeRawPointer(send.baseAddress), sendCounts: bytes(sendCounts),
            sendDispls: bytes(sendDispls),
            recv: UnsafeMutableRawPointer(recv.baseAddress), recvCounts: bytes(recvCounts),
            recvDispls: bytes(recvDispls)))
        return EmulatedRequest(world: world, rank: rank, id: id)
    }

    // MARK: helpers

    private func exchange(_ deposit: EmulatedDeposit) throws(TransportError) {
        let id = try world.deposit(rank: rank, deposit)
        try world.wait(rank: rank, id: id)
    }

    /// Reduce-scatter, then allgather: rank p reduces block p of every rank's values in
    /// rank order, then every rank collects the reduced blocks. The same bits on every
    /// rank, and O(count) memory per rank (gathering every rank's whole array instead
    /// would take O(P × count) per rank, O(P² × count) in a process of P ranks).
    private func reduce<T: BitwiseCopyable & Comparable & AdditiveArithmetic>(
        _ values: UnsafeMutableBufferPointer<T>, op: ReduceOp
    ) throws(TransportError) {
        let n = values.count, P = size
        guard n > 0 else { return try barrier() }
        // Block p: elements [start(p), start(p + 1)).
        func start(_ p: Int) -> Int { n / P * p + min(p, n % P) }
        let mine = start(rank + 1) - start(rank)
        let blockCounts = (0..<P).map { start($0 + 1) - start($0) }
        let blockStarts = (0..<P).map(start)
        var parts = [T](repeating: values[0], count: mine * P)
        try parts.withUnsafeMutableBufferPointer { (recv) throws(TransportError) in
            try post(send: UnsafeBufferPointer(values), sendCounts: blockCounts, sendDispls: blockStarts,
                     recv: recv, recvCounts: Array(repeating: mine, count: P), recvDispls: (0..<P).map { $0 * mine },
                     operation: .allreduce).wait()
        }
        var reduced = [T](repeating: values[0], count: mine)
        for i in 0..<mine {
            var acc = parts[i]
            for r in 1..<P {
                let v = parts[r * mine + i]
                switch op {
                case .sum: acc += v
                case .min: acc = Swift.min(acc, v)
                case .max: acc = Swift.max(acc, v)
                }
            }
            reduced[i] = acc
        }
        try reduced.withUnsafeBufferPointer { (send) throws(TransportError) in
            try post(send: send, sendCounts: Array(repeating: mine, count: P), sendDispls: Array(repeating: 0, count: P),
                     recv: values, recvCounts: blockCounts, recvDispls: blockStarts, operation: .allreduce).wait()
        }
    }
}

/// A deposited emulated exchange: `wait()` blocks until every rank has deposited its
/// side and this rank's blocks have been copied; `test()` does the same work without
/// blocking. Once either has completed the exchange, or thrown, both return at once.
final class EmulatedRequest: ExchangeTicket {
    private let world: EmulatedWorld
    private let rank: Int
    private let id: Int
    /// This rank is counted out of the exchange (completed, or failed).
    private var over = false

    init(world: EmulatedWorld, rank: Int, id: Int) {
        self.world = world
        self.rank = rank
        self.id = id
    }

    func wait() throws(TransportError) {
        guard !over else { return }
        over = true
        try world.wait(rank: rank, id: id)
    }

    func test() throws(TransportError) -> Bool {
        guard !over else { return true }
        do {
            over = try world.test(rank: rank, id: id)
        } catch {
            over = true
            throw error
        }
        return over
    }
}

/// gethostname(2), or "unknown".
func localHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
