import EpsimCore

extension Transport {
    /// Blocking variable all-to-all of bytes between two wire buffers, as `ialltoallv`
    /// but completed before it returns: `bytes` gives the per-peer counts and offsets
    /// (`sendBytes`/`sendDispls` out of `send`, `recvBytes`/`recvDispls` into `recv`).
    /// Used by the token dispatcher and by the bench's bare baseline of the same call.
    public func alltoallv(send: WireBuffer, recv: WireBuffer, bytes b: ExchangeBytes) throws {
        try send.withUnsafeMutableBytes { s in
            try recv.withUnsafeMutableBytes { r in
                try alltoallv(send: UnsafeBufferPointer(s.bindMemory(to: UInt8.self)),
                              sendCounts: b.sendBytes, sendDispls: b.sendDispls,
                              recv: r.bindMemory(to: UInt8.self),
                              recvCounts: b.recvBytes, recvDispls: b.recvDispls)
            }
        }
    }
}
