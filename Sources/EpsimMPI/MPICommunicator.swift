import CMPI
import CMPIShim

/// The world communicator of an MPI job, with the collectives epsim needs.
///
/// Public API takes and returns Swift types only. One instance per process, used from
/// the thread that created it (MPI is initialized with MPI_THREAD_FUNNELED).
public final class MPICommunicator {
    let comm: MPI_Comm?
    public let rank: Int
    public let size: Int
    /// Messages larger than this many elements are split into several MPI calls,
    /// because MPI counts and displacements are C `int`s. Settable so tests can
    /// exercise the split path with small messages.
    public var maxMessageElements = Int(Int32.max)
    /// Set by every rank alike (`MPITransport.promiseExchangeBound`): no count or
    /// displacement of any rank exceeds this many bytes, so `allFit` need not ask.
    public var promisedBoundBytes: Int?
    /// Committed MPI datatypes of n contiguous bytes, by n (element strides).
    var byteTypes: [Int: MPI_Datatype?] = [:]
    /// The counts and displacements of blocking `alltoallv` calls (4 × `size` Int32s),
    /// allocated once and reused: a call completes before it returns, and MPI is used
    /// from one thread. Freed by `finalize` or `deinit`.
    private var blockingCountsStorage: UnsafeMutableBufferPointer<Int32>?
    private var finalized = false

    private init(comm: MPI_Comm?, rank: Int, size: Int) {
        self.comm = comm
        self.rank = rank
        self.size = size
        blockingCountsStorage = .allocate(capacity: 4 * size)
    }

    deinit {
        blockingCountsStorage?.deallocate()
    }

    /// The blocking calls' counts buffer (valid until `finalize`).
    var blockingCounts: UnsafeMutableBufferPointer<Int32> {
        guard let storage = blockingCountsStorage else { preconditionFailure("MPI used after finalize") }
        return storage
    }

    /// Initializes MPI (unless something already did), installs MPI_ERRORS_RETURN on
    /// the world communicator so every failure comes back as an `MPIError`, and returns
    /// the world. A process not started by mpirun is a world of one.
    public static func initialize() throws(MPIError) -> MPICommunicator {
        var initialized: Int32 = 0
        try mpi("MPI_Initialized") { MPI_Initialized(&initialized) }
        if initialized == 0 {
            var provided: Int32 = 0
            try mpi("MPI_Init_thread") { MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided) }
        }
        let world = cmpishim_comm_world()
        try mpi("MPI_Comm_set_errhandler") { MPI_Comm_set_errhandler(world, cmpishim_errors_return()) }
        var rank: Int32 = 0, size: Int32 = 0
        try mpi("MPI_Comm_rank") { MPI_Comm_rank(world, &rank) }
        try mpi("MPI_Comm_size") { MPI_Comm_size(world, &size) }
        return MPICommunicator(comm: world, rank: Int(rank), size: Int(size))
    }

    /// Frees the cached datatypes and finalizes MPI. Safe to call more than once (later
    /// calls do nothing). Every call is made even when one fails; the first failure is
    /// thrown.
    public func finalize() throws(MPIError) {
        guard !finalized else { return }
        finalized = true
        var failures: [MPIError] = []
        for (_, type) in byteTypes {
            var handle: MPI_Datatype? = type
            if let failure = mpiFailure("MPI_Type_free", { MPI_Type_free(&handle) }) { failures.append(failure) }
        }
        byteTypes.removeAll()
        blockingCountsStorage?.deallocate()
        blockingCountsStorage = nil
        if let failure = mpiFailure("MPI_Finalize", { MPI_Finalize() }) { failures.append(failure) }
        if let first = failures.first { throw first }
    }

    /// Ends every process of the job (MPI_Abort on MPI_COMM_WORLD, the only
    /// communicator there is), from any thread: used when one rank fails mid-run, so no
    /// other rank is left waiting in a collective, and by a watchdog that has no
    /// communicator of its own.
    public static func abortWorld(code: Int32) -> Never {
        let failure = mpiFailure("MPI_Abort") { MPI_Abort(cmpishim_comm_world(), code) }
        fatalError(failure.map { "\($0)" } ?? "MPI_Abort returned")
    }

    /// This process's host, as MPI names it ("unknown" if MPI cannot say).
    public var processorName: String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var length: Int32 = 0
        guard mpiFailure("MPI_Get_processor_name", { MPI_Get_processor_name(&buffer, &length) }) == nil
        else { return "unknown" }
        return MPICommunicator.text(buffer, length: length)
    }

    /// MPI_Get_library_version's first line, e.g. "Open MPI v4.1.4, ..." ("unknown" if
    /// MPI cannot say).
    public var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING) + 1)
        var length: Int32 = 0
        guard mpiFailure("MPI_Get_library_version", { MPI_Get_library_version(&buffer, &length) }) == nil
        else { return "unknown" }
        let text = MPICommunicator.text(buffer, length: length)
        return String(text.split(whereSeparator: \.isNewline).first ?? "unknown")
    }

    /// The first `length` characters of an MPI string buffer, up to its first NUL (Open
    /// MPI 4.1 counts the terminating NUL of MPI_Get_library_version in `length`).
    static func text(_ buffer: [CChar], length: Int32) -> String {
        let bytes = buffer.prefix(max(0, Int(length))).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func barrier() throws(MPIError) {
        try mpi("MPI_Barrier") { MPI_Barrier(comm) }
    }

    public enum Reduction: Sendable { case sum, min, max }

    private func op(_ r: Reduction) -> MPI_Op? {
        switch r {
        case .sum: return cmpishim_op_sum()
        case .min: return cmpishim_op_min()
        case .max: return cmpishim_op_max()
        }
    }

    /// In-place element-wise reduction across ranks.
    public func allreduce(_ values: UnsafeMutableBufferPointer<Double>, _ r: Reduction) throws(MPIError) {
        guard values.count > 0 else { return try barrier() }
        try allreduce(UnsafeMutableRawPointer(values.baseAddress!), count: values.count,
                      type: cmpishim_double(), r)
    }

    /// In-place element-wise reduction across ranks.
    public func allreduce(_ values: UnsafeMutableBufferPointer<Int64>, _ r: Reduction) throws(MPIError) {
        guard values.count > 0 else { return try barrier() }
        try allreduce(UnsafeMutableRawPointer(values.baseAddress!), count: values.count,
                      type: cmpishim_int64(), r)
    }

    private func allreduce(_ base: UnsafeMutableRawPointer, count: Int, type: MPI_Datatype?, _ r: Reduction) throws(MPIError) {
        var done = 0
        while done < count {
            let n = min(count - done, maxMessageElements)
            let stride = 8  // Double and Int64 alike
            try mpi("MPI_Allreduce") {
                MPI_Allreduce(cmpishim_in_place(), base + done * stride, Int32(n), type, op(r), comm)
            }
            done += n
        }
    }

    /// Every rank contributes the same number of elements; rank r's block lands at
    /// r × send.count of `recv`.
    public func allgather<T: BitwiseCopyable>(_ send: UnsafeBufferPointer<T>,
                                              into recv: UnsafeMutableBufferPointer<T>) throws(MPIError) {
        precondition(recv.count == send.count * size, "allgather needs size × send.count elements")
        guard send.count > 0 else { return try barrier() }
        if send.count <= maxMessageElements && recv.count <= Int(Int32.max) {
            let type = try byteType(MemoryLayout<T>.stride)
            try mpi("MPI_Allgather") {
                MPI_Allgather(send.baseAddress, Int32(send.count), type,
                              recv.baseAddress, Int32(send.count), type, comm)
            }
        } else {
            // Large blocks: the same exchange as an alltoallv, which splits.
            let n = send.count
            try alltoallv(send: send, sendCounts: Array(repeating: n, count: size),
                          sendDispls: Array(repeating: 0, count: size),
                          recv: recv, recvCounts: Array(repeating: n, count: size),
                          recvDispls: (0..<size).map { $0 * n })
        }
    }

    /// Variable-size gather of bytes to `root`; returns one array per rank on `root`,
    /// [] elsewhere.
    public func gatherBytes(_ send: [UInt8], root: Int) throws(MPIError) -> [[UInt8]] {
        var mine = Int64(send.count)
        var sizes = [Int64](repeating: 0, count: size)
        try mpi("MPI_Gather") {
            MPI_Gather(&mine, 1, cmpishim_int64(), &sizes, 1, cmpishim_int64(), Int32(root), comm)
        }
        // Everything goes through the pairwise path, which handles any size.
        var recv = [UInt8](repeating: 0, count: rank == root ? Int(sizes.reduce(0, +)) : 0)
        var offsets = [Int](repeating: 0, count: size)
        for r in 1..<max(size, 1) { offsets[r] = offsets[r - 1] + Int(sizes[r - 1]) }
        try send.withUnsafeBufferPointer { (s) throws(MPIError) in
            try recv.withUnsafeMutableBufferPointer { (rbuf) throws(MPIError) in
                let sendBase = UnsafeMutableRawPointer(mutating: UnsafeRawPointer(s.baseAddress))
                var sends: [PairwiseMessage] = [], recvs: [PairwiseMessage] = []
                sends.append(PairwiseMessage(peer: root, base: sendBase, bytes: s.count))
                if rank == root {
                    for r in 0..<size {
                        let base = UnsafeMutableRawPointer(rbuf.baseAddress).map { $0 + offsets[r] }
                        recvs.append(PairwiseMessage(peer: r, base: base, bytes: Int(sizes[r])))
                    }
                }
                try pairwise(sends: sends, recvs: recvs, tag: 11).wait()
            }
        }
        guard rank == root else { return [] }
        return (0..<size).map { Array(recv[offsets[$0]..<(offsets[$0] + Int(sizes[$0]))]) }
    }

    /// The committed datatype of `bytes` contiguous bytes (MPI_BYTE for 1).
    func byteType(_ bytes: Int) throws(MPIError) -> MPI_Datatype? {
        if bytes == 1 { return cmpishim_byte() }
        if let type = byteTypes[bytes] { return type }
        var type: MPI_Datatype? = nil
        try mpi("MPI_Type_contiguous") { MPI_Type_contiguous(Int32(bytes), cmpishim_byte(), &type) }
        try mpi("MPI_Type_commit") { MPI_Type_commit(&type) }
        byteTypes[bytes] = type
        return type
    }
}
