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
}

func expect(_ condition: Bool, _ what: String) throws {
    if !condition { throw ConformanceFailure("\(what) is wrong") }
}

func expectEqual<T: Equatable>(_ got: T, _ want: T, _ what: String) throws {
    if got != want { throw ConformanceFailure("\(what): got \(got), expected \(want)") }
}

/// The uneven layout the data-plane checks share: rank 0 holds experts 0 ... 6, the last
/// rank expert 7 as well (every rank between holds none), and uneven tokens (rank 1
/// none). For 8 experts on `ranks` ranks.
func makeUneven(_ c: inout SimConfig, ranks: Int) {
    var lists = [[Int]](repeating: [], count: ranks)
    lists[0] = Array(0..<7)
    lists[ranks - 1].append(7)
    c.placement = PlacementConfig()
    c.placement.base = .explicit(lists)
    c.tokens = .perRank((0..<ranks).map { $0 == 1 ? 0 : 30 + 17 * $0 })
}
