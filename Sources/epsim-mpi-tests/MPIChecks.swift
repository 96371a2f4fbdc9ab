import EpsimConformance
import EpsimCore
import EpsimMPI
import EpsimRuntime

/// Checks that only make sense on MPI.
enum MPIChecks {
    static let all: [ConformanceCheck] = [
        ConformanceCheck("library version and host name are plain text (no NUL from MPI's lengths)") { t in
            let mpi = t as! MPITransport
            for text in [mpi.libraryVersion, mpi.hostName] {
                if text.isEmpty || text.contains("\0") || text == "unknown" {
                    throw ConformanceFailure("MPI string \(text.debugDescription)")
                }
            }
            if !mpi.libraryVersion.hasPrefix("Open MPI") {
                throw ConformanceFailure("library version \(mpi.libraryVersion.debugDescription)")
            }
        },
        ConformanceCheck("big-count split path: alltoallv in pieces") { t in
            try withMessageLimit(t, 1000) {
                // ~1.5 MiB of Float per pair with uneven counts: many pieces of 1000 elements.
                try checkExchange(t) { src, dst in 400_000 + src * 1001 + dst * 7 }
                try checkExchange(t) { src, dst in src == dst ? 0 : 999 + src }
            }
        },
        ConformanceCheck("big-count split path: non-blocking") { t in
            try withMessageLimit(t, 333) {
                try checkExchange(t, nonBlocking: true) { src, dst in 10_000 + src * 3 + dst }
            }
        },
        ConformanceCheck("big-count split path: only one pair over the limit, all ranks agree") { t in
            try withMessageLimit(t, 100) {
                // Only the last rank's message to rank 0 needs splitting: every other rank's
                // counts fit, and they must still take the split path with it.
                let last = t.size - 1
                for nonBlocking in [false, true] {
                    try checkExchange(t, nonBlocking: nonBlocking) { src, dst in src == last && dst == 0 ? 150 : 10 + src + dst }
                }
            }
        },
        ConformanceCheck("big-count split path: gather and allgather") { t in
            try withMessageLimit(t, 100) {
                let mine = (0..<2500).map { Int32(t.rank * 100_000 + $0) }
                let all = try t.allgather(mine)
                let expected = (0..<t.size).flatMap { r in (0..<2500).map { Int32(r * 100_000 + $0) } }
                if all != expected { throw ConformanceFailure("allgather in pieces is wrong") }
                let bytes = (0..<(777 * (t.rank + 1))).map { UInt8(truncatingIfNeeded: $0 + t.rank) }
                let got = try t.gatherBytes(bytes, root: t.size - 1)
                if t.rank == t.size - 1 {
                    for r in 0..<t.size where got[r] != (0..<(777 * (r + 1))).map({ UInt8(truncatingIfNeeded: $0 + r) }) {
                        throw ConformanceFailure("gather in pieces: rank \(r)'s bytes are wrong")
                    }
                }
            }
        },
        ConformanceCheck("MPI errors come back as readable MPIError, and as TransportError.mpi with its text") { t in
            let mpi = t as! MPITransport
            // Typed throws: the failure is an MPIError.
            let gathered = Result { () throws(MPIError) in try mpi.communicator.gatherBytes([1, 2, 3], root: t.size + 5) }
            guard case let .failure(error) = gathered else {
                throw ConformanceFailure("gather to a root outside the world did not fail")
            }
            if !error.description.hasPrefix("MPI_Gather failed: ") || !error.description.contains("(MPI error ") {
                throw ConformanceFailure("unexpected error text: \(error.description)")
            }
            let mapped = TransportError(error)
            guard case .mpi(let inner) = mapped, inner == error, inner.call == "MPI_Gather",
                  mapped.description == error.description else {
                throw ConformanceFailure("TransportError.mpi differs: \(mapped) vs \(error)")
            }
        },
    ]

    /// Runs `body` with MPI messages limited to `elements` elements, so small exchanges
    /// take the split (point-to-point) path; the limit is restored afterwards.
    static func withMessageLimit(_ t: any Transport, _ elements: Int, _ body: () throws -> Void) rethrows {
        let communicator = (t as! MPITransport).communicator
        let saved = communicator.maxMessageElements
        communicator.maxMessageElements = elements
        defer { communicator.maxMessageElements = saved }
        try body()
    }
}
