import EpsimCore

/// A transport's handle on a started operation: the MPI requests or the emulated
/// world's ticket. Both methods may be called after completion (then they return at
/// once) and after either has thrown.
protocol ExchangeTicket: AnyObject {
    /// Blocks until the operation has completed.
    func wait() throws(TransportError)
    /// Lets the operation advance without blocking; true once it has completed.
    func test() throws(TransportError) -> Bool
}

/// One started exchange between two wire buffers, for both transports: the buffers are
/// marked in flight when it is made and given back (`end`) once the transport's ticket
/// has completed, or when the exchange never started. It holds both buffers until then,
/// so the memory the transport reads and writes stays alive (the MPI request does not
/// own it).
final class WireExchange {
    let send: WireBuffer
    let recv: WireBuffer
    let sendBytes: UnsafeMutableRawBufferPointer
    let recvBytes: UnsafeMutableRawBufferPointer
    private(set) var ended = false
    /// The transport's operation, once started.
    var ticket: (any ExchangeTicket)?

    init(send: WireBuffer, recv: WireBuffer) {
        precondition(send !== recv, "alltoallv: send and receive buffers must not alias")
        self.send = send
        self.recv = recv
        sendBytes = send.beginExchange()
        recvBytes = recv.beginExchange()
    }

    /// Starts an exchange of `size` ranks between two wire buffers, counts and
    /// displacements in bytes: checks the arguments (`CollectiveArguments`), marks the
    /// buffers in flight and lets `post` start the transport's operation on their bytes
    /// (send, receive). If `post` throws, the buffers are released at once.
    static func start(
        send: WireBuffer, sendCounts: [Int], sendDispls: [Int],
        recv: WireBuffer, recvCounts: [Int], recvDispls: [Int], size: Int,
        post: (UnsafeRawBufferPointer, UnsafeMutableRawBufferPointer) throws(TransportError) -> any ExchangeTicket
    ) throws(TransportError) -> ExchangeRequest {
        try CollectiveArguments.checkAlltoallv(
            sendCounts: sendCounts, sendDispls: sendDispls, sendCapacity: send.byteCount,
            recvCounts: recvCounts, recvDispls: recvDispls, recvCapacity: recv.byteCount, size: size)
        let exchange = WireExchange(send: send, recv: recv)
        do {
            exchange.ticket = try post(UnsafeRawBufferPointer(exchange.sendBytes), exchange.recvBytes)
        } catch {
            exchange.end()
            throw error
        }
        return ExchangeRequest(exchange)
    }

    /// The exchange has completed (or never started): the buffers are free again.
    func end() {
        guard !ended else { return }
        ended = true
        send.endExchange()
        recv.endExchange()
    }

    /// Blocks until the exchange has completed and gives the buffers back.
    func wait() throws(TransportError) {
        guard !ended, let ticket else { return end() }
        defer { end() }
        try ticket.wait()
    }

    /// Progress only: the buffers stay in flight until `wait`.
    func test() throws(TransportError) -> Bool {
        guard !ended, let ticket else { return true }
        return try ticket.test()
    }
}
