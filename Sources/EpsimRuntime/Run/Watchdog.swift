#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Ends a run that makes no progress (`--timeout SECONDS`).
///
/// A background thread looks at the process's heartbeats (`Heartbeats`) about once a
/// second. When none has moved for `timeout` seconds while a rank is inside the steps
/// (`Heartbeat.isInsideSteps`: setup, verification and results are not watched), it
/// prints one line per rank of this process naming where that rank is (step, layer
/// and phase), removes the run's temporary files, and calls `stop`, which ends every
/// rank with a non-zero status (MPI_Abort under MPI, the process's exit when the ranks
/// are threads), unless the run finished meanwhile.
///
/// Under MPI every rank has its own watchdog. A hang stops all ranks within moments of
/// each other, so each one's watchdog fires and prints its line; `grace` seconds
/// between printing and stopping let the others print theirs before the job ends.
public final class Watchdog: @unchecked Sendable {
    /// The default of `--timeout`: long enough for any phase of a layout that fits in
    /// memory here, short enough that a hung CI job says why long before its limit.
    public static let defaultTimeout = 300.0
    /// The accepted range of `--timeout` (0 turns the watchdog off).
    public static let timeoutRange = 0.0...604_800.0

    private let timeout: Double
    private let heartbeats: [Heartbeat]
    private let rankNames: [String]
    private let grace: Double
    private let stop: @Sendable () -> Never
    private let lock = NSLock()
    private var stopped = false

    /// - Parameters:
    ///   - timeout: seconds without any heartbeat before the run is stopped (> 0).
    ///   - heartbeats: this process's ranks.
    ///   - rankNames: how each heartbeat's rank is named in the printed line.
    ///   - grace: seconds between printing and `stop`.
    ///   - stop: ends the run on every rank; never returns.
    public init(timeout: Double, heartbeats: [Heartbeat], rankNames: [String], grace: Double,
                stop: @escaping @Sendable () -> Never) {
        precondition(timeout > 0 && heartbeats.count == rankNames.count)
        self.timeout = timeout
        self.heartbeats = heartbeats
        self.rankNames = rankNames
        self.grace = grace
        self.stop = stop
    }

    /// Starts watching on a thread of its own. Returns false if no thread could be
    /// started (the run then goes on unwatched).
    @discardableResult
    public func start() -> Bool {
        RankThread.start(stackBytes: 1 << 20) { [self] in watch() } == nil
    }

    /// Stops watching (the run finished); the thread exits at its next look.
    public func cancel() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    private var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    private func watch() {
        var last = heartbeats.map(\.count)
        var lastChange = monotonicSeconds()
        let period = min(1.0, timeout / 4)
        while !isCancelled {
            preciseSleep(period)
            let now = monotonicSeconds(), counts = heartbeats.map(\.count)
            if counts != last || !heartbeats.contains(where: \.isInsideSteps) {
                last = counts
                lastChange = now
                continue
            }
            guard now - lastChange >= timeout, !isCancelled else { continue }
            let waited = Int((now - lastChange).rounded())
            for (i, beat) in heartbeats.enumerated() {
                Launcher.printError("\(rankNames[i])no progress for \(waited) s at \(beat.position); "
                                    + "stopped by the watchdog (--timeout \(shortNumber(timeout)); "
                                    + "raise it if a phase legitimately takes longer)")
            }
            TemporaryFiles.removeAll()
            preciseSleep(grace)
            // A run that finished during the grace (it was slow, not stuck) ends as it would.
            if isCancelled { return }
            stop()
        }
    }
}
