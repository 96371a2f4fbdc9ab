import EpsimCore

/// Two wire buffers marked in flight for one exchange, and their memory for the
/// transport: taken when the exchange starts, given back (`end`) once it has completed.
/// Shared by both transports' pending exchanges.
final class WireExchange {
    let send: WireBuffer
    let recv: WireBuffer
    let sendBytes: UnsafeMutableRawBufferPointer
    let recvBytes: UnsafeMutableRawBufferPointer
    private(set) var ended = false

    init(send: WireBuffer, recv: WireBuffer) {
        precondition(send !== recv, "alltoallv: send and receive buffers must not alias")
        self.send = send
        self.recv = recv
        sendBytes = send.beginExchange()
        recvBytes = recv.beginExchange()
    }

    /// The exchange has completed (or never started): the buffers are free again.
    func end() {
        guard !ended else { return }
        ended = true
        send.endExchange()
        recv.endExchange()
    }
}
