#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress indicator on standard error, for runs longer than a couple of
/// seconds, and only when standard error is a terminal (never in logs or pipes).
/// Redrawn at most a few times a second; `finish` erases it.
final class ProgressLine {
    private let total: Int
    private let started = monotonicSeconds()
    private var lastDrawn = 0.0
    private var drawn = false
    private let enabled = isatty(2) == 1

    init(total: Int) {
        self.total = total
    }

    func update(done: Int) {
        guard enabled else { return }
        let now = monotonicSeconds()
        guard now - started > 2, now - lastDrawn > 0.25 else { return }
        lastDrawn = now
        drawn = true
        let rate = Double(done) / (now - started)
        let left = rate > 0 ? Double(total - done) / rate : 0
        Console.error("\r\u{1B}[Kstep \(done)/\(total) · \(String(format2: now - started)) s elapsed · ~\(String(format2: left)) s left")
    }

    func finish() {
        if drawn { Console.error("\r\u{1B}[K") }
    }
}
