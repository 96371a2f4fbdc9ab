#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EpsimCore
import EpsimRuntime

/// A check of one `Transport` property, run collectively by every rank.
///
/// The same checks run against the emulated transport (XCTest, in-process) and against
/// MPI (the `epsim-mpi-tests` executable under mpirun), so the two implementations are
/// held to identical semantics. Every check is valid for any world size P >= 1.
public struct ConformanceCheck: Sendable {
    public let name: String
    /// Runs on every rank; throws `ConformanceFailure` when the transport misbehaves.
    public let run: @Sendable (any Transport) throws -> Void

    public init(_ name: String, run: @escaping @Sendable (any Transport) throws -> Void) {
        self.name = name
        self.run = run
    }
}

/// A conformance check found a wrong value.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Conformance {
    /// Every check, in the order they are run.
    public static let checks: [ConformanceCheck] = collectiveChecks + exchangeChecks

    static let collectiveChecks: [ConformanceCheck] = [
        ConformanceCheck("barrier") { t in
            for _ in 0..<3 { try t.barrier() }
        },
        ConformanceCheck("allreduce Double sum/min/max") { t in
            let values = (0..<5).map { Double(t.rank * 10 + $0) + 0.5 }
            let P = Double(t.size)
            try expectEqual(try t.allreduce(values, op: .sum),
                            (0..<5).map { i in (0..<t.size).reduce(0.0) { $0 + Double($1 * 10 + i) + 0.5 } }, "sum")
            try expectEqual(try t.allreduce(values, op: .min), (0..<5).map { Double($0) + 0.5 }, "min")
            try expectEqual(try t.allreduce(values, op: .max), (0..<5).map { Double(Int(P - 1) * 10 + $0) + 0.5 }, "max")
        },
        ConformanceCheck("allreduce Int64 sum/min/max") { t in
            let big = Int64(1) << 40
            let values: [Int64] = [Int64(t.rank), big + Int64(t.rank), -Int64(t.rank) * 3]
            let P = Int64(t.size)
            try expectEqual(try t.allreduce(values, op: .sum),
                            [P * (P - 1) / 2, big * P + P * (P - 1) / 2, -3 * P * (P - 1) / 2], "sum")
            try expectEqual(try t.allreduce(values, op: .min), [0, big, -(P - 1) * 3], "min")
            try expectEqual(try t.allreduce(values, op: .max), [P - 1, big + P - 1, 0], "max")
        },
        ConformanceCheck("allgather") { t in
            let mine = (0..<3).map { t.rank * 100 + $0 }
            let all = try t.allgather(mine)
            try expectEqual(all, (0..<t.size).flatMap { r in (0..<3).map { r * 100 + $0 } }, "allgather")
        },
        ConformanceCheck("gatherBytes to first and last rank, with empty parts") { t in
            for root in t.size == 1 ? [0] : [0, t.size - 1] {
                // Rank r sends r % 3 * 5 bytes (so some ranks send nothing).
                let mine = (0..<(t.rank % 3 * 5)).map { UInt8(truncatingIfNeeded: t.rank * 31 + $0) }
                let got = try t.gatherBytes(mine, root: root)
                if t.rank == root {
                    let expected = (0..<t.size).map { r in
                        (0..<(r % 3 * 5)).map { UInt8(truncatingIfNeeded: r * 31 + $0) }
                    }
                    try expectEqual(got, expected, "gather to root \(root)")
                } else {
                    try expectEqual(got, [], "non-root result")
                }
            }
        },
        ConformanceCheck("alltoall of counts") { t in
            let send = (0..<t.size).map { t.rank * 1000 + $0 }
            let got = try t.alltoall(send)
            try expectEqual(got, (0..<t.size).map { $0 * 1000 + t.rank }, "alltoall")
        },
        ConformanceCheck("misused collectives throw the same invalidArgument on every rank") { t in
            // Checked before anything is sent, so every rank throws and none waits.
            let P = t.size
            func refused(_ expected: String, _ call: () throws -> Void) throws {
                do {
                    try call()
                    throw ConformanceFailure("accepted: \(expected)")
                } catch let error as TransportError {
                    try expectEqual(error, .invalidArgument(expected), "error")
                }
            }
            try refused("gather: root \(P) is not a rank of 0..<\(P)") { _ = try t.gatherBytes([1], root: P) }
            var one = [Int](repeating: 0, count: P + 1)
            try refused("allgather: receive buffer holds \(P + 1) elements, need 1 × \(P)") {
                try [7].withUnsafeBufferPointer { s in try one.withUnsafeMutableBufferPointer { try t.allgather(s, into: $0) } }
            }
            try refused("alltoall: needs one value per rank (\(P)), got \(P + 1) and \(P + 1)") {
                try one.withUnsafeMutableBufferPointer { r in try t.alltoall(UnsafeBufferPointer(r), into: r) }
            }
            let plan = ExchangePlan(t) { _, _ in 1 }, zeros = [Int](repeating: 0, count: P)
            try refused("alltoallv: send range for rank 0 (0 + \(4 * P + 1)) exceeds the buffer (\(4 * P))") {
                var counts = zeros
                counts[0] = 4 * P + 1  // bytes: one more than the P floats of the send buffer
                _ = try t.ialltoallv(send: plan.send, sendCounts: counts, sendDispls: zeros,
                                     recv: plan.recv, recvCounts: zeros, recvDispls: zeros)
            }
            try refused("alltoallv: receive counts and displacements need \(P) entries, got 0 and \(P)") {
                try [Float]().withUnsafeBufferPointer { s in
                    var r = [Float]()
                    try r.withUnsafeMutableBufferPointer {
                        try t.alltoallv(send: s, sendCounts: zeros, sendDispls: zeros, recv: $0, recvCounts: [], recvDispls: zeros)
                    }
                }
            }
            try expect(!plan.send.isInFlight && !plan.recv.isInFlight, "buffers of a refused exchange")
        },
    ]

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

func checkExchange(_ t: any Transport, gap: Int = 0, nonBlocking: Bool = false,
                   count: (Int, Int) -> Int) throws {
    let plan = ExchangePlan(t, gap: gap, count: count)
    if nonBlocking {
        let request = try plan.post(t, tag: 9)
        // Unrelated work between post and wait.
        var x: Double = 0
        for i in 0..<10_000 { x += Double(i).squareRoot() }
        try request.wait()
        try expect(x > 0, "work")
    } else {
        try plan.run(t, tag: 0)
    }
    try plan.verify(t, tag: nonBlocking ? 9 : 0)
}

func expect(_ condition: Bool, _ what: String) throws {
    if !condition { throw ConformanceFailure("\(what) is wrong") }
}

func expectEqual<T: Equatable>(_ got: T, _ want: T, _ what: String) throws {
    if got != want { throw ConformanceFailure("\(what): got \(got), expected \(want)") }
}
