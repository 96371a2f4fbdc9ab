import EpsimCore

/// The collectives of `EmulatedTransport`, as a deposit names them.
enum EmulatedOperation: String, Sendable {
    case barrier, allreduce, allgather, gather, alltoall, alltoallv, ialltoallv
}

/// One rank's side of an emulated exchange: where its outgoing bytes are and where its
/// incoming bytes go, in bytes, one entry per peer.
///
/// `@unchecked Sendable`: the pointers cross threads by design. The owning rank keeps
/// both buffers alive and untouched until its `wait` returns, and `wait` does not return
/// while any copy touching them is in progress (also on the failure path).
struct EmulatedDeposit: @unchecked Sendable {
    /// The collective this rank called: every rank of one exchange must have called the
    /// same one (MPI would hang or corrupt memory; the emulated transport reports it).
    var operation: EmulatedOperation
    var send: UnsafeRawPointer?
    var sendCounts: [Int]
    var sendDispls: [Int]
    var recv: UnsafeMutableRawPointer?
    var recvCounts: [Int]
    var recvDispls: [Int]
}

/// The shared state of one collective (the n-th collective every rank calls).
///
/// Every collective is an exchange of byte ranges between pairs (src, dst). Once all
/// ranks have deposited, each pair's copy is claimed and done by whichever of its two
/// ranks gets to it first, so an exchange completes as soon as every rank has entered
/// `wait`, with no rank waiting for another to enter a later collective.
final class EmulatedExchange {
    let size: Int
    var deposits: [EmulatedDeposit?]
    var depositCount = 0
    /// [src × size + dst]: 0 = not started, 1 = being copied, 2 = done.
    var pairState: [UInt8]
    /// Ranks that returned from `wait`.
    var completed = 0
    /// A contract violation found when the last rank deposited (counts that disagree).
    var error: String?

    init(size: Int) {
        self.size = size
        deposits = Array(repeating: nil, count: size)
        pairState = Array(repeating: 0, count: size * size)
    }

    /// Checks that every rank called the same collective, and that what every src sends
    /// to every dst is what dst expects from src.
    func validate() -> String? {
        let first = deposits[0]!.operation
        for r in 1..<size where deposits[r]!.operation != first {
            return "collective mismatch: rank 0 called \(first) while rank \(r) called \(deposits[r]!.operation)"
        }
        for src in 0..<size {
            for dst in 0..<size {
                let sent = deposits[src]!.sendCounts[dst], expected = deposits[dst]!.recvCounts[src]
                if sent != expected {
                    return "rank \(src) sends \(sent) bytes to rank \(dst), which expects \(expected)"
                }
            }
        }
        return nil
    }

    /// Copies the bytes of pair (src, dst). Called without the world's lock held.
    func copy(src: Int, dst: Int) {
        let from = deposits[src]!, to = deposits[dst]!
        let count = from.sendCounts[dst]
        guard count > 0 else { return }
        (to.recv! + to.recvDispls[src]).copyMemory(from: from.send! + from.sendDispls[dst], byteCount: count)
    }

    /// Pairs involving `rank` that are not yet done.
    func unfinished(for rank: Int) -> Bool {
        for p in 0..<size where pairState[p * size + rank] != 2 || pairState[rank * size + p] != 2 {
            return true
        }
        return false
    }

    /// Pairs involving `rank` being copied right now (by anyone).
    func copying(for rank: Int) -> Bool {
        for p in 0..<size where pairState[p * size + rank] == 1 || pairState[rank * size + p] == 1 {
            return true
        }
        return false
    }
}
