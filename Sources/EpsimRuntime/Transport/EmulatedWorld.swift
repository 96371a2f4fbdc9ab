import Foundation
import EpsimCore

/// N ranks as threads of one process: the shared state behind `EmulatedTransport`.
///
/// Collectives are numbered by each rank's call sequence (all ranks call them in the
/// same order, as MPI requires). A rank that throws out of its body marks the world
/// failed; every rank blocked in, or later entering, a collective then throws
/// `TransportError.peerFailed` at once. A rank that returns while others still wait
/// for it in a collective fails them the same way, instead of leaving them hanging.
public final class EmulatedWorld: Sendable {
    public let size: Int
    private let lock = ConditionLock()
    /// Guarded by `lock`.
    nonisolated(unsafe) private var exchanges: [Int: EmulatedExchange] = [:]
    nonisolated(unsafe) private var failure: (rank: Int, reason: String)?
    nonisolated(unsafe) private var finished: [Bool]
    /// Guarded by `lock`: the number of collectives each rank has started.
    nonisolated(unsafe) private var started: [Int]

    public init(size: Int) {
        precondition(size >= 1, "an emulated world needs at least one rank")
        self.size = size
        finished = Array(repeating: false, count: size)
        started = Array(repeating: 0, count: size)
    }

    /// Runs `body` on `ranks` threads, one `EmulatedTransport` each, and returns the
    /// results in rank order. If any rank throws, the others are released from their
    /// collectives and this rethrows the first rank's original error.
    ///
    /// A rank whose thread cannot be started (pthread_create fails: too many threads,
    /// or no memory for its stack under a memory limit) fails the world like a rank that
    /// threw, so the ranks already running are released instead of waiting for it, and
    /// this throws `EmulatedWorld.StartError`.
    public static func run<R: Sendable>(
        ranks: Int, stackBytes: Int = 16 << 20, _ body: @escaping @Sendable (EmulatedTransport) throws -> R
    ) throws -> [R] {
        let world = EmulatedWorld(size: ranks)
        let results = ResultSlots<R>(count: ranks)
        let done = DispatchGroup()
        for rank in 0..<ranks {
            done.enter()
            let started = RankThread.start(stackBytes: stackBytes) {
                defer { done.leave() }
                let transport = EmulatedTransport(world: world, rank: rank)
                do {
                    results.set(rank, .success(try body(transport)))
                    world.finish(rank: rank)
                } catch {
                    results.set(rank, .failure(error))
                    world.fail(rank: rank, error: error)
                }
            }
            if let error = started {
                done.leave()
                let failure = StartError(rank: rank, ranks: ranks, reason: error)
                results.set(rank, .failure(failure))
                world.fail(rank: rank, error: failure)
                break
            }
        }
        done.wait()
        if let (rank, _) = world.failureInfo, case let .failure(error)? = results.get(rank) {
            throw error
        }
        return try (0..<ranks).map { try results.get($0)!.get() }
    }

    var failureInfo: (rank: Int, reason: String)? { lock.withLock { failure } }

    func fail(rank: Int, error: Error) {
        lock.withLock {
            if failure == nil { failure = (rank, "\(error)") }
            lock.broadcast()
        }
    }

    func finish(rank: Int) {
        lock.withLock {
            finished[rank] = true
            lock.broadcast()
        }
    }

    /// Deposits `rank`'s side of its next collective and returns that collective's number.
    func deposit(rank: Int, _ deposit: EmulatedDeposit) throws(TransportError) -> Int {
        try lock.withLock { () throws(TransportError) -> Int in
            if let failure { throw .peerFailed(rank: failure.rank, reason: failure.reason) }
            let id = started[rank]
            started[rank] += 1
            let exchange = exchanges[id] ?? EmulatedExchange(size: size)
            exchanges[id] = exchange
            exchange.deposits[rank] = deposit
            exchange.depositCount += 1
            if exchange.depositCount == size {
                exchange.error = exchange.validate()
                lock.broadcast()
            }
            return id
        }
    }

    /// Completes `rank`'s part of collective `id`: copies every pair involving `rank`
    /// that nobody has started, then waits for the pairs others are copying.
    func wait(rank: Int, id: Int) throws(TransportError) {
        let exchange = try lock.withLock { () throws(TransportError) -> EmulatedExchange in
            let exchange = exchanges[id]!
            while try !isReady(exchange, rank: rank, id: id) { lock.wait() }
            return exchange
        }
        copyUnclaimedPairs(of: exchange, rank: rank)
        try lock.withLock { () throws(TransportError) in
            while try !isDone(exchange, rank: rank, id: id) { lock.wait() }
        }
    }

    /// `wait` without blocking: once every rank has deposited, copies the pairs
    /// involving `rank` that nobody has started, and returns whether every pair
    /// involving `rank` is done (then `rank` is counted out, as by `wait`, and must not
    /// wait for `id` again). False while a rank has not deposited or a peer is copying.
    func test(rank: Int, id: Int) throws(TransportError) -> Bool {
        let ready = try lock.withLock { () throws(TransportError) -> EmulatedExchange? in
            let exchange = exchanges[id]!
            return try isReady(exchange, rank: rank, id: id) ? exchange : nil
        }
        guard let exchange = ready else { return false }
        copyUnclaimedPairs(of: exchange, rank: rank)
        return try lock.withLock { () throws(TransportError) -> Bool in try isDone(exchange, rank: rank, id: id) }
    }

    /// Whether every rank has deposited its side of `exchange`. Throws when a peer has
    /// failed or returned before depositing (it never will), and when the deposits break
    /// the contract (then `rank` is counted out). Holds the lock.
    private func isReady(_ exchange: EmulatedExchange, rank: Int, id: Int) throws(TransportError) -> Bool {
        guard exchange.depositCount == size else {
            if let failure {
                throw .peerFailed(rank: failure.rank, reason: failure.reason)
            }
            if let gone = (0..<size).first(where: { finished[$0] && exchange.deposits[$0] == nil }) {
                throw .peerFailed(rank: gone, reason: "it returned without joining collective #\(id)")
            }
            return false
        }
        if let error = exchange.error {
            finishWait(exchange, id: id)
            throw .invalidArgument(error)
        }
        return true
    }

    /// Copies, one at a time, the pairs involving `rank` that nobody has claimed; the
    /// other rank of each pair may be doing the same. Called without the lock held.
    ///
    /// Peers are visited in order, (p → rank) before (rank → p). A pair's state never
    /// returns to 0, so pairs passed over stay claimed and each claim resumes at the
    /// peer `p` where the last one stopped: O(P) per rank and exchange in all.
    private func copyUnclaimedPairs(of exchange: EmulatedExchange, rank: Int) {
        let P = size
        var p = 0
        while true {
            let pair: Int? = lock.withLock {
                while p < P {
                    let incoming = p * P + rank, outgoing = rank * P + p
                    if exchange.pairState[incoming] == 0 {
                        exchange.pairState[incoming] = 1
                        return incoming
                    }
                    if exchange.pairState[outgoing] == 0 {
                        exchange.pairState[outgoing] = 1
                        return outgoing
                    }
                    p += 1
                }
                return nil
            }
            guard let index = pair else { return }
            exchange.copy(src: index / P, dst: index % P)
            lock.withLock {
                exchange.pairState[index] = 2
                lock.broadcast()
            }
        }
    }

    /// Whether every pair involving `rank` is copied; if so, counts `rank` out. Throws
    /// when a peer has failed and no copy touching `rank`'s buffers is in progress (one
    /// being made would still write into them). Holds the lock.
    private func isDone(_ exchange: EmulatedExchange, rank: Int, id: Int) throws(TransportError) -> Bool {
        guard !exchange.unfinished(for: rank) else {
            if let failure, !exchange.copying(for: rank) {
                finishWait(exchange, id: id)
                throw .peerFailed(rank: failure.rank, reason: failure.reason)
            }
            return false
        }
        finishWait(exchange, id: id)
        return true
    }

    /// Counts a rank out of an exchange; the last one removes it. Holds the lock.
    private func finishWait(_ exchange: EmulatedExchange, id: Int) {
        exchange.completed += 1
        if exchange.completed == size { exchanges[id] = nil }
    }
}

extension EmulatedWorld {
    /// A rank's thread could not be started.
    public struct StartError: Error, CustomStringConvertible {
        public let rank: Int
        public let ranks: Int
        public let reason: String
        public var description: String {
            "--emulate \(ranks): cannot start the thread of rank \(rank): \(reason); "
                + "run fewer ranks, or one process per rank under mpirun"
        }
    }
}

/// Per-rank result slots filled by the rank threads.
private final class ResultSlots<R: Sendable>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var slots: [Result<R, Error>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<R, Error>) { lock.withLock { slots[i] = value } }
    func get(_ i: Int) -> Result<R, Error>? { lock.withLock { slots[i] } }
}
