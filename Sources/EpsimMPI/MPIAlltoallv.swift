import CMPI
import CMPIShim

/// Two bytes for the addresses of empty buffers, allocated once and never freed.
nonisolated(unsafe) private let emptyPlaceholders = UnsafeMutableRawPointer.allocate(byteCount: 2, alignment: 1)

/// One point-to-point message of the pairwise path: `bytes` bytes at `base` to or
/// from `peer`. A nil base is allowed only with 0 bytes.
struct PairwiseMessage {
    var peer: Int
    var base: UnsafeMutableRawPointer?
    var bytes: Int
}

extension MPICommunicator {
    /// Variable all-to-all; counts and displacements in elements of `T`, one per rank.
    ///
    /// When every rank's counts and displacements fit MPI's `int`, one MPI_Alltoallv.
    /// Otherwise every pair's message is sent as MPI_Isend/MPI_Irecv pieces of at most
    /// `maxMessageElements` elements, addressed by pointer so no displacement overflows.
    ///
    /// Which of the two runs is decided from data every rank agrees on: each rank's
    /// counts are its own, so the ranks first agree (`allFit`, one MPI_Allreduce of one
    /// integer) whether all of them fit. A choice made from local counts alone would let
    /// one rank enter a collective while its peers post point-to-point messages, and
    /// both would wait forever. For the same reason there is no MPI_Alltoall shortcut
    /// for "regular" counts: one rank's counts can be regular while another's are not.
    public func alltoallv<T: BitwiseCopyable>(
        send: UnsafeBufferPointer<T>, sendCounts: [Int], sendDispls: [Int],
        recv: UnsafeMutableBufferPointer<T>, recvCounts: [Int], recvDispls: [Int]
    ) throws(MPIError) {
        precondition(sendCounts.count == size && sendDispls.count == size
                     && recvCounts.count == size && recvDispls.count == size,
                     "alltoallv needs one count and displacement per rank")
        guard try allFit(sendCounts, sendDispls, recvCounts, recvDispls, of: T.self) else {
            let stride = MemoryLayout<T>.stride
            return try pairwise(send: UnsafeRawPointer(send.baseAddress), sendCounts: sendCounts, sendDispls: sendDispls,
                                recv: UnsafeMutableRawPointer(recv.baseAddress), recvCounts: recvCounts,
                                recvDispls: recvDispls, stride: stride).wait()
        }
        let type = try byteType(MemoryLayout<T>.stride)
        let (sendAddress, recvAddress) = distinctAddresses(UnsafeRawPointer(send.baseAddress), send.isEmpty,
                                                           UnsafeMutableRawPointer(recv.baseAddress), recv.isEmpty)
        // The call completes before returning, and MPI is funneled through one thread,
        // so the communicator's one counts buffer serves every blocking call.
        let counts = blockingCounts
        int32Counts(sendCounts, sendDispls, recvCounts, recvDispls, into: counts)
        let base = UnsafePointer(counts.baseAddress!)
        try mpi("MPI_Alltoallv") {
            MPI_Alltoallv(sendAddress, base, base + size, type,
                          recvAddress, base + 2 * size, base + 3 * size, type, comm)
        }
    }

    /// Non-blocking `alltoallv` of bytes: counts and displacements in bytes. The caller
    /// keeps the memory behind `send` and `recv` alive and untouched until the request
    /// completes (the request does not own it); the request keeps its own copy of the
    /// counts, which MPI reads until completion.
    public func ialltoallv(
        send: UnsafeRawBufferPointer, sendCounts: [Int], sendDispls: [Int],
        recv: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvDispls: [Int]
    ) throws(MPIError) -> MPIRequest {
        precondition(sendCounts.count == size && sendDispls.count == size
                     && recvCounts.count == size && recvDispls.count == size,
                     "alltoallv needs one count and displacement per rank")
        if try allFit(sendCounts, sendDispls, recvCounts, recvDispls, of: UInt8.self) {
            // MPI reads the counts until the operation completes: the request owns them.
            let request = MPIRequest(countsCapacity: 4 * size)
            int32Counts(sendCounts, sendDispls, recvCounts, recvDispls, into: request.counts!)
            let (sendAddress, recvAddress) = distinctAddresses(send.baseAddress, send.isEmpty,
                                                               recv.baseAddress, recv.isEmpty)
            let n = size, base = request.countsBase!, type = cmpishim_byte()
            var posted: MPI_Request? = nil
            try mpi("MPI_Ialltoallv") {
                MPI_Ialltoallv(sendAddress, base, base + n, type,
                               recvAddress, base + 2 * n, base + 3 * n, type, comm, &posted)
            }
            request.append(posted)
            return request
        }
        return try pairwise(send: send.baseAddress, sendCounts: sendCounts, sendDispls: sendDispls,
                            recv: recv.baseAddress, recvCounts: recvCounts,
                            recvDispls: recvDispls, stride: 1)
    }

    /// The split path: every pair's message as point-to-point pieces.
    private func pairwise(send: UnsafeRawPointer?, sendCounts: [Int], sendDispls: [Int],
                          recv: UnsafeMutableRawPointer?, recvCounts: [Int], recvDispls: [Int],
                          stride: Int) throws(MPIError) -> MPIRequest {
        let sendBase = UnsafeMutableRawPointer(mutating: send)
        let sends = (0..<size).map { p in
            PairwiseMessage(peer: p, base: sendBase.map { $0 + sendDispls[p] * stride }, bytes: sendCounts[p] * stride)
        }
        let recvs = (0..<size).map { p in
            PairwiseMessage(peer: p, base: recv.map { $0 + recvDispls[p] * stride }, bytes: recvCounts[p] * stride)
        }
        return try pairwise(sends: sends, recvs: recvs, tag: 7, elementBytes: stride)
    }

    /// Whether this rank's counts and displacements fit one MPI call (MPI's `int`, and
    /// `maxMessageElements`). Checked array by array: this runs on every exchange of
    /// every step, and concatenating the arrays would allocate each time.
    func fitInt(_ a: [Int], _ b: [Int], _ c: [Int], _ d: [Int]) -> Bool {
        let limit = min(maxMessageElements, Int(Int32.max))
        func fits(_ values: [Int]) -> Bool { values.allSatisfy { $0 <= limit } }
        return fits(a) && fits(b) && fits(c) && fits(d)
    }

    /// Whether every rank's counts and displacements fit, so that all ranks take the
    /// same path: known without asking when every rank promised a bound that fits
    /// (`promisedBoundBytes`), else agreed by one MPI_Allreduce(MIN) of one integer.
    func allFit<T>(_ a: [Int], _ b: [Int], _ c: [Int], _ d: [Int], of _: T.Type) throws(MPIError) -> Bool {
        let stride = MemoryLayout<T>.stride
        if let bound = promisedBoundBytes, bound / stride <= min(maxMessageElements, Int(Int32.max)) {
            precondition(fitInt(a, b, c, d), "an exchange exceeds the promised bound of \(bound) bytes")
            return true
        }
        var fits: Int64 = fitInt(a, b, c, d) ? 1 : 0
        try mpi("MPI_Allreduce") {
            MPI_Allreduce(cmpishim_in_place(), &fits, 1, cmpishim_int64(), cmpishim_op_min(), comm)
        }
        return fits == 1
    }

    /// Fills `counts` (4 × `size` elements) with the counts and displacements as MPI's
    /// ints: [sendCounts, sendDispls, recvCounts, recvDispls], `size` each (the caller
    /// has checked that they fit).
    func int32Counts(_ sendCounts: [Int], _ sendDispls: [Int], _ recvCounts: [Int], _ recvDispls: [Int],
                     into counts: UnsafeMutableBufferPointer<Int32>) {
        assert(counts.count == 4 * size, "int32Counts needs 4 × size elements")
        for p in 0..<size {
            counts[p] = Int32(sendCounts[p])
            counts[size + p] = Int32(sendDispls[p])
            counts[2 * size + p] = Int32(recvCounts[p])
            counts[3 * size + p] = Int32(recvDispls[p])
        }
    }

    /// The buffers' addresses, never null and never equal: MPI wants non-null
    /// addresses even for empty exchanges, and Open MPI's alltoallv takes
    /// `sendbuf == recvbuf` for an in-place exchange and runs another message schedule
    /// than its peers, which hangs them. Swift gives every empty array the same
    /// storage, so a rank that neither sends nor receives would pass equal pointers;
    /// an empty side gets one of two placeholder bytes allocated once for the process
    /// instead, so a pending request never holds the address of something that goes
    /// away (a stack slot, an empty array).
    func distinctAddresses(_ send: UnsafeRawPointer?, _ sendEmpty: Bool,
                           _ recv: UnsafeMutableRawPointer?, _ recvEmpty: Bool)
        -> (UnsafeRawPointer, UnsafeMutableRawPointer) {
        let sendAddress = sendEmpty || send == nil ? UnsafeRawPointer(emptyPlaceholders) : send!
        let recvAddress = recvEmpty || recv == nil ? emptyPlaceholders + 1 : recv!
        precondition(sendAddress != UnsafeRawPointer(recvAddress),
                     "alltoallv: send and receive buffers must not alias")
        return (sendAddress, recvAddress)
    }

    /// Posts every message as pieces of at most `maxMessageElements` elements. Pieces
    /// between the same pair keep their order (MPI's non-overtaking rule), so one tag
    /// suffices.
    func pairwise(sends: [PairwiseMessage], recvs: [PairwiseMessage], tag: Int32,
                  elementBytes: Int = 1) throws(MPIError) -> MPIRequest {
        let pieceBytes = max(1, min(maxMessageElements, Int(Int32.max))) * elementBytes
        let type = try byteType(elementBytes)
        // Every piece joins the request as it is posted, so a failure part-way cancels
        // and completes those already posted before the memory can be reused.
        let request = MPIRequest()
        do throws(MPIError) {
            // Receives first, so every piece finds its receive already posted.
            for (messages, isSend) in [(recvs, false), (sends, true)] {
                for m in messages where m.bytes > 0 {
                    var offset = 0
                    while offset < m.bytes {
                        let n = min(pieceBytes, m.bytes - offset)
                        let count = Int32(n / elementBytes), peer = Int32(m.peer)
                        var posted: MPI_Request? = nil
                        if isSend {
                            try mpi("MPI_Isend") { MPI_Isend(m.base! + offset, count, type, peer, tag, comm, &posted) }
                        } else {
                            try mpi("MPI_Irecv") { MPI_Irecv(m.base! + offset, count, type, peer, tag, comm, &posted) }
                        }
                        request.append(posted)
                        offset += n
                    }
                }
            }
        } catch {
            request.cancel()
            throw error
        }
        return request
    }
}
