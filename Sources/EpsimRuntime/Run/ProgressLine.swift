#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress on standard error for work a person waits for (steps of a run, runs of a
/// sweep or compare, a bench's extra steps), shown once the work has taken more than
/// `quietSeconds` (2 s): short work prints nothing.
///
/// On a terminal, one line redrawn at most four times a second and erased by `finish`.
/// Elsewhere (a log, a pipe), plain lines, so a log is not flooded: one as each quarter
/// of the work is crossed (25, 50, 75, 100 %), and one at least every `plainInterval`
/// (30 s) in between. Callers show it on rank 0 only.
public final class ProgressLine {
    /// Seconds of work before anything is shown.
    static let quietSeconds = 2.0
    /// Longest gap between two plain lines while work goes on, seconds.
    static let plainInterval = 30.0

    private let total: Int
    private let unit: String
    private let label: String
    private let terminal: Bool
    private let clock: () -> Double
    private let write: (String) -> Void
    private let started: Double
    private var lastDrawn = 0.0
    private var drawn = false
    private var lastPlain: Double
    /// The highest quarter (1...4) a plain line was printed for.
    private var lastQuarter = 0
    /// Units finished so far (the last `update`).
    private var done = 0

    /// `total` units of work (≥ 0), counted `unit` ("step", "run"), the line headed by
    /// `label` ("sweep" gives "sweep: run 3/8 ..."; nil: no heading).
    public convenience init(total: Int, unit: String = "step", label: String? = nil) {
        self.init(total: total, unit: unit, label: label, terminal: isatty(2) == 1,
                  clock: monotonicSeconds, write: Console.error)
    }

    /// The same, with the terminal test, the clock (seconds) and the writer given (tests).
    init(total: Int, unit: String, label: String?, terminal: Bool, clock: @escaping () -> Double,
         write: @escaping (String) -> Void) {
        self.total = max(0, total)
        self.unit = unit
        self.label = label.map { $0 + ": " } ?? ""
        self.terminal = terminal
        self.clock = clock
        self.write = write
        started = clock()
        lastPlain = started
    }

    /// "sweep: run 3/8 (37%) · 12.30 s elapsed · ~20.50 s left".
    private func text(done: Int, now: Double) -> String {
        let elapsed = now - started
        let rate = Double(done) / max(elapsed, 1e-9)
        let left = rate > 0 ? Double(max(0, total - done)) / rate : 0
        let share = total > 0 ? 100 * done / total : 100
        return "\(label)\(unit) \(done)/\(total) (\(share)%) · \(String(format2: elapsed)) s elapsed"
            + (done < total ? " · ~\(String(format2: left)) s left" : "")
    }

    /// One more unit is finished (after `done` earlier ones).
    public func advance() { update(done: done + 1) }

    /// `done` of `total` units are finished.
    public func update(done: Int) {
        self.done = done
        let now = clock()
        guard now - started > ProgressLine.quietSeconds else { return }
        if terminal {
            guard now - lastDrawn > 0.25 else { return }
            lastDrawn = now
            drawn = true
            write("\r\u{1B}[K" + text(done: done, now: now))
            return
        }
        let quarter = total > 0 ? min(4, 4 * done / total) : 4
        guard quarter > lastQuarter || now - lastPlain >= ProgressLine.plainInterval else { return }
        lastQuarter = max(lastQuarter, quarter)
        lastPlain = now
        write(text(done: done, now: now) + "\n")
    }

    /// The work is over: the terminal line is erased (plain lines stay).
    public func finish() {
        if drawn { write("\r\u{1B}[K") }
        drawn = false
    }
}
