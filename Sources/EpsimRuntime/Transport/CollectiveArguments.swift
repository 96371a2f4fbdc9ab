import EpsimCore

/// The checks of a collective's arguments that both transports make before anything
/// is sent, so that misuse fails alike, with the same `TransportError.invalidArgument`
/// text, on MPI and on emulated ranks. `size` is the number of ranks.
enum CollectiveArguments {
    /// allgather: the receive buffer holds every rank's block.
    static func checkAllgather(sendCount: Int, recvCount: Int, size: Int) throws(TransportError) {
        guard recvCount == sendCount * size else {
            throw .invalidArgument("allgather: receive buffer holds \(recvCount) elements, need \(sendCount) × \(size)")
        }
    }

    /// gather: the root is a rank.
    static func checkRoot(_ root: Int, size: Int) throws(TransportError) {
        guard (0..<size).contains(root) else {
            throw .invalidArgument("gather: root \(root) is not a rank of 0..<\(size)")
        }
    }

    /// alltoall: one value per rank on both sides.
    static func checkAlltoall(sendCount: Int, recvCount: Int, size: Int) throws(TransportError) {
        guard sendCount == size, recvCount == size else {
            throw .invalidArgument("alltoall: needs one value per rank (\(size)), got \(sendCount) and \(recvCount)")
        }
    }

    /// alltoallv: both sides' counts and displacements (one per rank, in elements)
    /// within their buffers (`sendCapacity`, `recvCapacity` elements); the send side is
    /// checked first.
    static func checkAlltoallv(sendCounts: [Int], sendDispls: [Int], sendCapacity: Int,
                               recvCounts: [Int], recvDispls: [Int], recvCapacity: Int,
                               size: Int) throws(TransportError) {
        try checkRanges(sendCounts, sendDispls, capacity: sendCapacity, what: "send", size: size)
        try checkRanges(recvCounts, recvDispls, capacity: recvCapacity, what: "receive", size: size)
    }

    /// alltoallv between two typed buffers (counts in elements of `T`).
    static func checkAlltoallv<T>(_ send: UnsafeBufferPointer<T>, _ sendCounts: [Int], _ sendDispls: [Int],
                                  _ recv: UnsafeMutableBufferPointer<T>, _ recvCounts: [Int], _ recvDispls: [Int],
                                  size: Int) throws(TransportError) {
        try checkAlltoallv(sendCounts: sendCounts, sendDispls: sendDispls, sendCapacity: send.count,
                           recvCounts: recvCounts, recvDispls: recvDispls, recvCapacity: recv.count, size: size)
    }

    /// One side of an alltoallv: `what` is "send" or "receive".
    private static func checkRanges(_ counts: [Int], _ displs: [Int], capacity: Int, what: String,
                                    size: Int) throws(TransportError) {
        guard counts.count == size, displs.count == size else {
            throw .invalidArgument(
                "alltoallv: \(what) counts and displacements need \(size) entries, got \(counts.count) and \(displs.count)")
        }
        // `counts[p] > capacity - displs[p]` rather than `displs[p] + counts[p] > capacity`:
        // both are non-negative by then, so this cannot overflow.
        for p in 0..<size where counts[p] < 0 || displs[p] < 0 || counts[p] > capacity - displs[p] {
            throw .invalidArgument(
                "alltoallv: \(what) range for rank \(p) (\(displs[p]) + \(counts[p])) exceeds the buffer (\(capacity))")
        }
    }
}
