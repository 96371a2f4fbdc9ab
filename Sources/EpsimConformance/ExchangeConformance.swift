#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EpsimCore
import EpsimRuntime

/// The checks of variable all-to-all exchanges (blocking and not, gaps, empty blocks,
/// requests in flight), and the exchange plans they are built from.
extension Conformance {
    static let exchangeChecks: [ConformanceCheck] = [
        ConformanceCheck("alltoallv uneven counts, zeros, one element") { t in
            // src sends (src + 2*dst) % 4 elements to dst: includes 0 and 1.
            try checkExchange(t) { src, dst in (src + 2 * dst) % 4 }
        },
        ConformanceCheck("alltoallv where rank 0 sends nothing") { t in
            try checkExchange(t) { src, dst in src == 0 ? 0 : src + dst + 1 }
        },
        ConformanceCheck("alltoallv where one rank neither sends nor receives, repeated") { t in
            // Rank 1 (rank 0 when alone) has empty buffers on both sides; the others keep
            // exchanging. Repeats catch a rank whose messages fall out of step with its
            // peers' (Open MPI takes equal send and receive addresses for in-place).
            let idle = min(1, t.size - 1), sink = min(2, t.size - 1)
            for round in 0..<3 {
                try checkExchange(t, nonBlocking: round == 1) { src, dst in
                    src == idle || dst == idle || dst == sink ? 0 : src + 2 * dst + round + 1
                }
                try checkExchange(t) { src, dst in src + dst + 1 }
            }
        },
        ConformanceCheck("alltoallv where one rank's counts are regular and its peers' are not") { t in
            // Rank 0 sends and receives 3 elements per peer at regular offsets, which
            // once made it call MPI_Alltoall while its peers called MPI_Alltoallv.
            for nonBlocking in [false, true] {
                try checkExchange(t, nonBlocking: nonBlocking) { src, dst in
                    src == 0 || dst == 0 ? 3 : src + 2 * dst + 1
                }
            }
        },
        ConformanceCheck("alltoallv of nothing at all") { t in
            try checkExchange(t) { _, _ in 0 }
        },
        ConformanceCheck("alltoallv of several MiB per pair") { t in
            // 2 MiB of Float per pair, plus an uneven tail.
            try checkExchange(t) { src, dst in (2 << 20) / 4 + src * 7 + dst }
        },
        ConformanceCheck("alltoallv with gaps between blocks") { t in
            try checkExchange(t, gap: 5) { src, dst in src * 3 + dst + 1 }
        },
        ConformanceCheck("alltoallv of a struct element type") { t in
            struct Pair: Equatable { var a: Int32; var b: Double }
            let P = t.size
            let send = (0..<P).map { Pair(a: Int32(t.rank), b: Double($0) + 0.25) }
            var recv = [Pair](repeating: Pair(a: -1, b: -1), count: P)
            let ones = [Int](repeating: 1, count: P), displs = Array(0..<P)
            try send.withUnsafeBufferPointer { s in
                try recv.withUnsafeMutableBufferPointer { r in
                    try t.alltoallv(send: s, sendCounts: ones, sendDispls: displs,
                                    recv: r, recvCounts: ones, recvDispls: displs)
                }
            }
            try expect(recv == (0..<P).map { Pair(a: Int32($0), b: Double(t.rank) + 0.25) }, "struct exchange")
        },
        ConformanceCheck("ialltoallv with work between post and wait") { t in
            try checkExchange(t, nonBlocking: true) { src, dst in 100 + src * 13 + dst }
        },
        ConformanceCheck("two outstanding ialltoallv waited in reverse order") { t in
            let a = ExchangePlan(t) { src, dst in src + dst + 1 }
            let b = ExchangePlan(t) { src, dst in 2 * src + 3 * dst + 2 }
            let first = try a.post(t, tag: 1), second = try b.post(t, tag: 2)
            try second.wait()
            try first.wait()
            try a.verify(t, tag: 1)
            try b.verify(t, tag: 2)
        },
        ConformanceCheck("an ialltoallv request dropped without wait completes before it goes") { t in
            let a = ExchangePlan(t) { src, dst in 3 * src + dst + 1 }
            _ = try a.post(t, tag: 4)
            try expect(!a.send.isInFlight && !a.recv.isInFlight, "buffers released after the drop")
            try a.verify(t, tag: 4)
        },
        ConformanceCheck("ialltoallv completed by test() alone, then wait returns") { t in
            let a = ExchangePlan(t) { src, dst in 2 * src + dst + 1 }
            let request = try a.post(t, tag: 5)
            // No barrier and no sleep: once every rank has posted, test() itself must
            // complete the exchange (MPI progresses it inside MPI_Testall; the emulated
            // world copies this rank's blocks). Bounded by a deadline, not a poll count,
            // because oversubscribed ranks may be descheduled for long stretches.
            let deadline = ContinuousClock.now + .seconds(60)
            var polls = 0
            while try !request.test() {
                polls += 1
                if ContinuousClock.now > deadline {
                    throw ConformanceFailure("test() did not complete the exchange in 60 s (\(polls) polls)")
                }
                sched_yield()
            }
            try expect(try request.test(), "test() after completion")
            try expect(a.recv.isInFlight && a.send.isInFlight, "buffers in flight until wait")
            try request.wait()
            try expect(!a.recv.isInFlight && !a.send.isInFlight, "buffers released by wait")
            try a.verify(t, tag: 5)
        },
        ConformanceCheck("ialltoallv, then a blocking allreduce, then wait") { t in
            let a = ExchangePlan(t) { src, dst in (src * 5 + dst) % 7 + 1 }
            let request = try a.post(t, tag: 3)
            // Odd ranks wait first; even ranks reduce first. Legal in MPI; must not deadlock.
            let sum: Int64
            if t.rank % 2 == 1 {
                try request.wait()
                sum = try t.allreduce([Int64(t.rank)], op: .sum)[0]
            } else {
                sum = try t.allreduce([Int64(t.rank)], op: .sum)[0]
                try request.wait()
            }
            try expectEqual(sum, Int64(t.size * (t.size - 1) / 2), "allreduce")
            try a.verify(t, tag: 3)
        },
    ]
}

/// Value of element i of the block src sends to dst: a formula the receiver can check.
@inline(__always)
func payload(_ src: Int, _ dst: Int, _ i: Int, tag: Int) -> Float {
    Float((src * 7919 + dst * 104_729 + i * 13 + tag * 31) % 1_000_003)
}

/// An alltoallv whose counts come from a formula of (src, dst), with optional gaps
/// between blocks, and whose every element is checked. The elements are `Float`s in two
/// wire buffers, so the same plan runs blocking and non-blocking.
final class ExchangePlan: @unchecked Sendable {
    let sendCounts: [Int], sendDispls: [Int], recvCounts: [Int], recvDispls: [Int]
    let send: WireBuffer
    let recv: WireBuffer
    static let stride = MemoryLayout<Float>.stride

    init(_ t: any Transport, gap: Int = 0, count: (Int, Int) -> Int) {
        let P = t.size, me = t.rank
        sendCounts = (0..<P).map { count(me, $0) }
        recvCounts = (0..<P).map { count($0, me) }
        var offset = gap
        sendDispls = sendCounts.map { c in defer { offset += c + gap }; return offset }
        let sendTotal = offset
        offset = gap
        recvDispls = recvCounts.map { c in defer { offset += c + gap }; return offset }
        send = WireBuffer(bytes: sendTotal * ExchangePlan.stride)
        recv = WireBuffer(bytes: offset * ExchangePlan.stride)
        send.withUnsafeMutableBytes { $0.bindMemory(to: Float.self).initialize(repeating: -1) }
        recv.withUnsafeMutableBytes { $0.bindMemory(to: Float.self).initialize(repeating: -7) }
    }

    func fill(_ t: any Transport, tag: Int) {
        send.withUnsafeMutableBytes { raw in
            let send = raw.bindMemory(to: Float.self)
            for dst in 0..<t.size {
                for i in 0..<sendCounts[dst] { send[sendDispls[dst] + i] = payload(t.rank, dst, i, tag: tag) }
            }
        }
    }

    /// Posts a non-blocking exchange; the buffers trap on access until it is waited for.
    func post(_ t: any Transport, tag: Int) throws -> ExchangeRequest {
        fill(t, tag: tag)
        let bytes = { (values: [Int]) in values.map { $0 * ExchangePlan.stride } }
        return try t.ialltoallv(send: send, sendCounts: bytes(sendCounts), sendDispls: bytes(sendDispls),
                                recv: recv, recvCounts: bytes(recvCounts), recvDispls: bytes(recvDispls))
    }

    func run(_ t: any Transport, tag: Int) throws {
        fill(t, tag: tag)
        try send.withUnsafeMutableBytes { s in
            try recv.withUnsafeMutableBytes { r in
                try t.alltoallv(send: UnsafeBufferPointer(s.bindMemory(to: Float.self)),
                                sendCounts: sendCounts, sendDispls: sendDispls,
                                recv: r.bindMemory(to: Float.self), recvCounts: recvCounts, recvDispls: recvDispls)
            }
        }
    }

    func verify(_ t: any Transport, tag: Int) throws {
        try recv.withUnsafeBytes { raw in
            let recv = raw.bindMemory(to: Float.self)
            var covered = [Bool](repeating: false, count: recv.count)
            for src in 0..<t.size {
                for i in 0..<recvCounts[src] {
                    let got = recv[recvDispls[src] + i], want = payload(src, t.rank, i, tag: tag)
                    if got != want {
                        throw ConformanceFailure("rank \(t.rank): element \(i) from rank \(src) is \(got), expected \(want)")
                    }
                    covered[recvDispls[src] + i] = true
                }
            }
            // Gaps must be untouched.
            for (i, c) in covered.enumerated() where !c && recv[i] != -7 {
                throw ConformanceFailure("rank \(t.rank): receive buffer written outside the blocks at \(i)")
            }
        }
    }
}

/// One exchange whose counts come from `count(src, dst)`, blocking or not, every element
/// checked (and the gaps untouched). Shared with the MPI-only checks (`epsim-mpi-tests`).
public func checkExchange(_ t: any Transport, gap: Int = 0, nonBlocking: Bool = false,
                          count: (Int, Int) -> Int) throws {
    let plan = ExchangePlan(t, gap: gap, count: count)
    if nonBlocking {
        let request = try plan.post(t, tag: 9)
        try expect(plan.send.isInFlight && plan.recv.isInFlight, "buffers in flight between post and wait")
        try request.wait()
    } else {
        try plan.run(t, tag: 0)
    }
    try plan.verify(t, tag: nonBlocking ? 9 : 0)
}

