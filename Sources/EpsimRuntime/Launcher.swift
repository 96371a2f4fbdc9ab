#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EpsimCore
import EpsimMPI

/// Where the ranks of a run come from.
public enum TransportChoice: Sendable, Equatable {
    /// One process per rank, started by mpirun or srun (a single process is a world of one).
    case mpi
    /// N ranks as threads of this process.
    case emulated(ranks: Int)
}

/// An error every rank already knows about and rank 0 already printed: the process
/// only has to exit non-zero.
public struct ReportedFailure: Error {}

/// Starts the ranks, runs the same body on each, and turns failures into exactly one
/// printed line and a non-zero exit on every rank.
public enum Launcher {
    /// Runs `body` on every rank and returns the process exit code.
    ///
    /// - MPI: initializes MPI; a `ReportedFailure` exits 1 on every rank after
    ///   finalizing; any other error is printed with its rank and aborts the whole job
    ///   (MPI_Abort), so no rank is left waiting.
    /// - Emulated: runs the ranks as threads; the first failure is printed once.
    ///
    /// `timeout` > 0 starts a `Watchdog` that stops the run, on every rank, when no rank
    /// of this process has passed a phase boundary for that many seconds; 0 turns it off.
    /// SIGINT, SIGTERM and SIGHUP remove the run's temporary files before the process dies.
    public static func run(
        _ choice: TransportChoice, timeout: Double = Watchdog.defaultTimeout,
        _ body: @escaping @Sendable (any Transport) throws -> Void
    ) -> Int32 {
        BLAS.useSingleThread()
        TemporaryFiles.installSignalHandlers()
        switch choice {
        case .mpi:
            let transport: MPITransport
            do {
                transport = try MPITransport.initialize()
            } catch {
                printError("cannot start MPI: \(error)")
                return 1
            }
            let watchdog = startWatchdog(timeout: timeout, ranks: 1, firstRank: transport.rank,
                                         worldSize: transport.size, grace: 3) {
                MPICommunicator.abortWorld(code: stalledExitCode)
            }
            defer { watchdog?.cancel() }
            do {
                try body(transport)
                transport.finalize()
                return 0
            } catch is ReportedFailure {
                transport.finalize()
                return 1
            } catch {
                printError(transport.size > 1 ? "rank \(transport.rank): \(error)" : "\(error)")
                if transport.size > 1 { transport.abort(code: 1) }
                transport.finalize()
                return 1
            }
        case let .emulated(ranks):
            let watchdog = startWatchdog(timeout: timeout, ranks: ranks, firstRank: 0, worldSize: ranks,
                                         grace: 0) {
                _exit(stalledExitCode)
            }
            defer { watchdog?.cancel() }
            do {
                _ = try EmulatedWorld.run(ranks: ranks) { transport in try body(transport) }
                return 0
            } catch is ReportedFailure {
                return 1
            } catch {
                printError("\(error)")
                return 1
            }
        }
    }

    /// The exit status of a run the watchdog stopped (as timeout(1) uses 124).
    public static let stalledExitCode: Int32 = 124

    private static func startWatchdog(timeout: Double, ranks: Int, firstRank: Int, worldSize: Int,
                                      grace: Double, stop: @escaping @Sendable () -> Never) -> Watchdog? {
        let beats = Heartbeats.install(count: ranks, firstRank: firstRank)
        guard timeout > 0 else { return nil }
        let names = (0..<ranks).map { worldSize > 1 ? "rank \(firstRank + $0): " : "" }
        let watchdog = Watchdog(timeout: timeout, heartbeats: beats, rankNames: names, grace: grace, stop: stop)
        watchdog.start()
        return watchdog
    }

    /// Runs `attempt` on every rank and agrees on the outcome: if any rank failed, rank 0
    /// prints the failure of the lowest failing rank (once, for the whole world) and every
    /// rank throws `ReportedFailure`. Used for everything that can fail on bad input
    /// (config, world size, trace files) before the simulation starts.
    public static func agree<T>(_ transport: any Transport, _ attempt: () throws -> T) throws -> T {
        var result: Result<T, Error>
        do { result = .success(try attempt()) } catch { result = .failure(error) }
        var message: [UInt8] = []
        if case let .failure(error) = result { message = Array("\(error)".utf8) }
        let failed = try transport.allreduce([Int64(message.isEmpty ? 0 : 1)], op: .max)[0]
        guard failed == 0, case let .success(value) = result else {
            let messages = try transport.gatherBytes(message, root: 0)
            if transport.rank == 0, let first = messages.first(where: { !$0.isEmpty }) {
                printError(String(decoding: first, as: UTF8.self))
            }
            throw ReportedFailure()
        }
        return value
    }

    /// The longest error line printed; longer messages (a value thousands of entries
    /// long echoed back) are cut in the middle, keeping the start (file and key) and the
    /// end (what to do).
    public static let maxErrorLength = 1000

    /// Prints `epsim: error: <message>` as one line on standard error.
    public static func printError(_ message: String) {
        var text = message.replacingNewlines()
        if text.count > maxErrorLength {
            let half = maxErrorLength / 2
            text = text.prefix(half) + " … (\(text.count - 2 * half) characters left out) … " + text.suffix(half)
        }
        Console.error("epsim: error: " + text + "\n")
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(map { $0.isNewline ? " " : $0 })
    }
}
