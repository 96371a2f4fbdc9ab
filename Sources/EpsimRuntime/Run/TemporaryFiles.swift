#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The temporary files this process has open (`AtomicFile.Writer`), so that a run
/// stopped by SIGINT, SIGTERM or SIGHUP, or by the watchdog, leaves none behind.
///
/// The registry is a fixed table of C strings allocated once, because a signal handler
/// may only call async-signal-safe functions: it walks the table and calls unlink(2),
/// then re-raises the signal with its default action, so the exit status still says
/// which signal ended the process. Writers register on open and unregister on commit or
/// when dropped; a string is never freed, only its slot emptied (a handler running at
/// that moment reads either the path or nothing).
public enum TemporaryFiles {
    /// At most this many temporary files are tracked at once (a run opens four).
    static let capacity = 64
    nonisolated(unsafe) private static let table: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let t = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        t.initialize(repeating: nil, count: capacity)
        return t
    }()
    nonisolated(unsafe) private static var installed = false

    /// Tracks `path`; returns its slot for `unregister`, or nil if the table is full.
    static func register(_ path: String) -> Int? {
        _ = table
        for i in 0..<capacity where table[i] == nil {
            table[i] = strdup(path)
            return i
        }
        return nil
    }

    /// Stops tracking the file in `slot` (committed or removed by its writer).
    static func unregister(_ slot: Int?) {
        guard let slot else { return }
        table[slot] = nil
    }

    /// Removes every tracked file (async-signal-safe).
    public static func removeAll() {
        for i in 0..<capacity {
            if let path = table[i] { unlink(path) }
        }
    }

    /// Installs the handlers for SIGINT, SIGTERM and SIGHUP (once per process).
    public static func installSignalHandlers() {
        guard !installed else { return }
        installed = true
        _ = table
        for signal in [SIGINT, SIGTERM, SIGHUP] { setHandler(signal, temporaryFilesSignalHandler) }
        // A reader of a FIFO output that goes away makes write(2) fail with EPIPE (one
        // error line) instead of killing the process without a word.
        setHandler(SIGPIPE, SIG_IGN)
    }
}

/// sigaction(2) with `handler`, no flags and no masked signals (async-signal-safe).
private func setHandler(_ signal: Int32, _ handler: (@convention(c) (Int32) -> Void)?) {
    var action = sigaction()
    #if canImport(Glibc)
    action.__sigaction_handler.sa_handler = handler
    #else
    action.__sigaction_u.__sa_handler = handler
    #endif
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(signal, &action, nil)
}

/// Removes the temporary files, then dies of `signal` as if no handler were installed.
private func temporaryFilesSignalHandler(_ signal: Int32) {
    TemporaryFiles.removeAll()
    setHandler(signal, SIG_DFL)
    raise(signal)
}
