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
public struct ReportedFailure: Error {
    public init() {}
}

/// Starts the ranks, runs the same body on each, and turns failures into exactly one
/// printed line and a non-zero exit on every rank.
public enum Launcher {
    /// Runs `body` on every rank and returns the process exit code.
    ///
    /// A rank's error is printed as one line naming the rank, `rank r: <error>` (just
    /// the error in a world of one), alike on both transports; its peers print nothing.
    /// - MPI: initializes MPI; a `ReportedFailure` exits 1 on every rank after
    ///   finalizing; any other error is printed and aborts the whole job (MPI_Abort), so
    ///   no rank is left waiting.
    /// - Emulated: runs the ranks as threads; the first rank's failure is printed, and
    ///   its peers, released from their collectives with `TransportError.peerFailed`,
    ///   print nothing.
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
            var status: Int32 = 0
            do {
                try body(transport)
            } catch is ReportedFailure {
                status = 1
            } catch {
                printError(RankFailure(rank: transport.rank, size: transport.size, error: error).line)
                if transport.size > 1 {
                    // A moment for the launcher's output forwarding to carry the line
                    // before the abort's own notice (under load Open MPI's came first).
                    if !transport.ranksShareProcess { usleep(100_000) }
                    transport.abort(code: 1)
                }
                status = 1
            }
            do {
                try transport.finalize()
            } catch {
                printError(RankFailure(rank: transport.rank, size: transport.size, error: error).line)
                return 1
            }
            return status
        case let .emulated(ranks):
            let watchdog = startWatchdog(timeout: timeout, ranks: ranks, firstRank: 0, worldSize: ranks,
                                         grace: 0) {
                _exit(stalledExitCode)
            }
            defer { watchdog?.cancel() }
            do {
                _ = try EmulatedWorld.run(ranks: ranks) { transport in
                    do {
                        try body(transport)
                    } catch let error where !(error is ReportedFailure) {
                        throw RankFailure(rank: transport.rank, size: transport.size, error: error)
                    }
                }
                return 0
            } catch is ReportedFailure {
                return 1
            } catch let failure as RankFailure {
                printError(failure.line)
                return 1
            } catch {
                // The world could not start (`EmulatedWorld.StartError` names the rank).
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
        let names = (0..<ranks).map { rankPrefix(rank: firstRank + $0, size: worldSize) }
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

    /// How a line about one rank begins, on either transport: "rank r: ", or nothing in a
    /// world of one.
    static func rankPrefix(rank: Int, size: Int) -> String { size > 1 ? "rank \(rank): " : "" }

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

    /// Prints `epsim: note: <message>` on stderr: something the run does as asked that
    /// the user may not have meant (a key that wins over its preset).
    public static func printNote(_ message: String) {
        Console.error("epsim: note: " + message.replacingNewlines() + "\n")
    }
}

/// One rank's error, and the line that reports it: `rank r: <error>` when there are
/// several ranks, the error alone in a world of one. Its description is the error's
/// own, so the emulated world's `peerFailed` reason reads the same as the error.
private struct RankFailure: Error, CustomStringConvertible {
    let rank: Int
    let size: Int
    let error: any Error

    var line: String { Launcher.rankPrefix(rank: rank, size: size) + "\(error)" }
    var description: String { "\(error)" }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(map { $0.isNewline ? " " : $0 })
    }
}
