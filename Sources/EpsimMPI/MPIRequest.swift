import CMPI
import CMPIShim

/// Pending MPI operations and the count and displacement array MPI reads until
/// completion (allocated and freed by the request itself). The memory being sent and
/// received belongs to the caller, who keeps it alive until completion (the runtime's
/// `WireExchange` holds both buffers that long). `wait()` completes them all;
/// waiting again is a no-op. A request released while operations are pending completes
/// them first (MPI_Waitall), so MPI never writes into memory that has been given back.
public final class MPIRequest {
    private var requests: [MPI_Request?] = []
    /// MPI_Ialltoallv's counts and displacements, read by MPI until completion: filled
    /// by the caller once, before the operation is posted.
    let counts: UnsafeMutableBufferPointer<Int32>?

    /// A request for point-to-point operations, which need no counts.
    init() {
        counts = nil
    }

    /// A request with room for `countsCapacity` counts (Int32 needs no initialization;
    /// the caller fills them before posting).
    init(countsCapacity: Int) {
        counts = .allocate(capacity: countsCapacity)
    }

    deinit {
        if !requests.isEmpty {
            let count = Int32(requests.count)
            // Nobody is left to hear of a failure here: the error that dropped the
            // request is the one reported.
            _ = requests.withUnsafeMutableBufferPointer { r in
                mpiFailure("MPI_Waitall") { MPI_Waitall(count, r.baseAddress!, cmpishim_statuses_ignore()) }
            }
        }
        counts?.deallocate()
    }

    /// The counts MPI reads, valid for the request's lifetime.
    var countsBase: UnsafePointer<Int32>? { counts.map { UnsafePointer($0.baseAddress!) } }

    /// Adds an operation that has been posted.
    func append(_ request: MPI_Request?) { requests.append(request) }

    /// Cancels every pending operation (point-to-point only; after a failed post), so
    /// that completing them cannot wait for messages that will never come.
    func cancel() {
        for i in requests.indices {
            _ = mpiFailure("MPI_Cancel") { MPI_Cancel(&requests[i]) }
        }
    }

    /// Lets the operations advance without blocking (MPI_Testall: Open MPI progresses
    /// non-blocking collectives only inside MPI calls). Returns whether all completed;
    /// `wait()` must still be called.
    public func test() throws(MPIError) -> Bool {
        guard !requests.isEmpty else { return true }
        let count = Int32(requests.count)
        var flag: Int32 = 0
        try requests.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
            try mpi("MPI_Testall") { MPI_Testall(count, r.baseAddress!, &flag, cmpishim_statuses_ignore()) }
        }
        return flag != 0
    }

    /// Completes every operation (MPI_Waitall).
    public func wait() throws(MPIError) {
        guard !requests.isEmpty else { return }
        let count = Int32(requests.count)
        defer { requests.removeAll() }
        try requests.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
            try mpi("MPI_Waitall") { MPI_Waitall(count, r.baseAddress!, cmpishim_statuses_ignore()) }
        }
    }
}
