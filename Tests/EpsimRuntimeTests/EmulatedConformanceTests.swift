import XCTest
import EpsimConformance
import EpsimCore
@testable import EpsimRuntime

/// Every transport conformance check on 1, 2, 3, 4 and 8 emulated ranks.
final class EmulatedConformanceTests: XCTestCase {
    private func runAll(ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertFalse(Conformance.checks.isEmpty, file: file, line: line)
        XCTAssertEqual(emulatedFailures(Conformance.checks, ranks: ranks), [], file: file, line: line)
    }

    func testConformanceP1() throws { try runAll(ranks: 1) }
    func testConformanceP2() throws { try runAll(ranks: 2) }
    func testConformanceP3() throws { try runAll(ranks: 3) }
    func testConformanceP4() throws { try runAll(ranks: 4) }
    func testConformanceP8() throws { try runAll(ranks: 8) }

    func testTheChecksCanFail() throws {
        // A check that expects the wrong sum must fail on every P: the harness is live.
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 3) { t in
            let s = try t.allreduce([Int64(1)], op: .sum)[0]
            if s != 4 { throw ConformanceFailure("sum \(s)") }
        })
    }
}

/// Failure behaviour that only the emulated transport can show in-process.
final class EmulatedFailureTests: XCTestCase {
    struct Boom: Error, Equatable { let rank: Int }

    func testOneRankThrowingReleasesTheOthersPromptly() throws {
        let start = ContinuousClock.now
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 4) { t in
            if t.rank == 2 { throw Boom(rank: 2) }
            // The others block in a collective rank 2 never joins.
            try t.barrier()
            try t.barrier()
        }) { error in
            XCTAssertEqual(error as? Boom, Boom(rank: 2), "run must rethrow the original error, got \(error)")
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "hang guard")
    }

    func testPeersSeePeerFailed() throws {
        let seen = SeenErrors()
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 3) { t in
            // Whether the others reach the collective before or after rank 0 fails, they
            // must see peerFailed: a waiting rank is woken, a late one is refused.
            if t.rank == 0 { throw Boom(rank: 0) }
            do { try t.barrier() } catch { seen.add(error); throw error }
        })
        XCTAssertEqual(seen.all.count, 2)
        for error in seen.all {
            guard case let .peerFailed(rank, reason)? = error as? TransportError else {
                return XCTFail("expected peerFailed, got \(error)")
            }
            XCTAssertEqual(rank, 0)
            XCTAssertTrue(reason.contains("Boom"), reason)
        }
    }

    func testRankReturningEarlyFailsWaitersInsteadOfHanging() throws {
        let start = ContinuousClock.now
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 3) { t in
            if t.rank == 1 { return }
            try t.barrier()
        }) { error in
            guard case let .peerFailed(rank, reason)? = error as? TransportError else {
                return XCTFail("expected peerFailed, got \(error)")
            }
            XCTAssertEqual(rank, 1)
            XCTAssertTrue(reason.contains("returned without joining"), reason)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "hang guard")
    }

    func testMismatchedCountsAreAnError() throws {
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 2) { t in
            // Rank 0 sends 3 elements to rank 1, which expects 2.
            let send = [Float](repeating: 1, count: 4)
            var recv = [Float](repeating: 0, count: 4)
            let sendCounts = t.rank == 0 ? [1, 3] : [1, 1]
            let recvCounts = t.rank == 1 ? [2, 1] : [1, 1]
            try send.withUnsafeBufferPointer { s in
                try recv.withUnsafeMutableBufferPointer { r in
                    try t.alltoallv(send: s, sendCounts: sendCounts, sendDispls: [0, 1],
                                    recv: r, recvCounts: recvCounts, recvDispls: [0, 2])
                }
            }
        }) { error in
            XCTAssertEqual(error as? TransportError,
                           .invalidArgument("rank 0 sends 12 bytes to rank 1, which expects 8"))
        }
    }

    func testOutOfRangeDisplacementIsAnError() throws {
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 1) { t in
            let send = [Float](repeating: 1, count: 2)
            var recv = [Float](repeating: 0, count: 2)
            try send.withUnsafeBufferPointer { s in
                try recv.withUnsafeMutableBufferPointer { r in
                    try t.alltoallv(send: s, sendCounts: [2], sendDispls: [1], recv: r, recvCounts: [2], recvDispls: [0])
                }
            }
        }) { error in
            XCTAssertEqual(error as? TransportError,
                           .invalidArgument("alltoallv: send range for rank 0 (1 + 2) exceeds the buffer (2)"))
        }
    }

    func testResultsComeBackInRankOrder() throws {
        let results = try EmulatedWorld.run(ranks: 5) { t in t.rank * 10 + t.size }
        XCTAssertEqual(results, [5, 15, 25, 35, 45])
    }
}

/// `test()` on the emulated transport makes progress by itself, as MPI_Testall does.
final class EmulatedTestProgressTests: XCTestCase {
    /// Spins on `test()` until it returns true or throws; a deadline bounds it.
    private static func spin(_ request: borrowing ExchangeRequest) throws -> Int {
        let deadline = ContinuousClock.now + .seconds(30)
        var polls = 0
        while try !request.test() {
            polls += 1
            if ContinuousClock.now > deadline { throw ConformanceFailure("test() never completed") }
        }
        return polls
    }

    func testTestIsFalseUntilEveryRankPostedThenCompletesTheExchange() throws {
        // Rank 1 posts only after rank 0's first test(), which therefore must be false.
        let rank0Tested = DispatchSemaphore(value: 0)
        let results = try EmulatedWorld.run(ranks: 2) { t -> [UInt32] in
            let send = WireBuffer(bytes: 8), recv = WireBuffer(bytes: 8)
            send.withUnsafeMutableBytes { raw in
                for p in 0..<2 { raw.storeBytes(of: UInt32(t.rank * 10 + p), toByteOffset: 4 * p, as: UInt32.self) }
            }
            if t.rank == 1 { rank0Tested.wait() }
            let request = try t.ialltoallv(send: send, sendCounts: [4, 4], sendDispls: [0, 4],
                                           recv: recv, recvCounts: [4, 4], recvDispls: [0, 4])
            if t.rank == 0 {
                let early = try request.test()
                rank0Tested.signal()
                if early { throw ConformanceFailure("test() true before rank 1 posted") }
                _ = try Self.spin(request)
                if !recv.isInFlight { throw ConformanceFailure("buffers released before wait") }
            }
            try request.wait()
            return recv.withUnsafeBytes { raw in (0..<2).map { raw.load(fromByteOffset: 4 * $0, as: UInt32.self) } }
        }
        XCTAssertEqual(results, [[0, 10], [1, 11]])
    }

    func testTestThrowsPeerFailedWhenAPeerFailsBeforePosting() throws {
        let seen = SeenErrors()
        // Rank 1 fails once rank 0 has posted, so rank 0's test() is what sees it.
        let rank0Posted = DispatchSemaphore(value: 0)
        XCTAssertThrowsError(try EmulatedWorld.run(ranks: 2) { t in
            if t.rank == 1 {
                rank0Posted.wait()
                throw EmulatedFailureTests.Boom(rank: 1)
            }
            let request = try t.ialltoallv(send: WireBuffer(bytes: 4), sendCounts: [2, 2], sendDispls: [0, 2],
                                           recv: WireBuffer(bytes: 4), recvCounts: [2, 2], recvDispls: [0, 2])
            rank0Posted.signal()
            do { _ = try Self.spin(request) } catch { seen.add(error); throw error }
        })
        XCTAssertEqual(seen.all.count, 1)
        guard case let .peerFailed(rank, reason)? = seen.all.first as? TransportError else {
            return XCTFail("expected peerFailed, got \(seen.all)")
        }
        XCTAssertEqual(rank, 1)
        XCTAssertTrue(reason.contains("Boom"), reason)
    }
}

/// Errors collected from rank threads.
final class SeenErrors: @unchecked Sendable {
    private let lock = NSLockLike()
    private var errors: [Error] = []
    func add(_ e: Error) { lock.locked { errors.append(e) } }
    var all: [Error] { lock.locked { errors } }
}

/// A tiny lock for test bookkeeping.
final class NSLockLike: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
