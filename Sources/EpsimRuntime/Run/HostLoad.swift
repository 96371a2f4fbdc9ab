#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EpsimCore

/// How busy this host was before a measurement: its 1-minute load average and the
/// processors online. Every timing `calibrate` and `bench` report is slow by up to the
/// share of the cores other work took, so both say when the host was busy.
public struct HostLoad: Sendable, Equatable {
    /// The first field of /proc/loadavg; nil where unknown (not Linux).
    public var loadAverage: Double?
    /// Processors online (sysconf), at least 1.
    public var cores: Int

    public init(loadAverage: Double?, cores: Int) {
        self.loadAverage = loadAverage
        self.cores = cores
    }

    /// This host, now.
    public static func current() -> HostLoad {
        HostLoad(loadAverage: readLoadAverage(), cores: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    /// Busy: a load average of at least half the cores.
    public var isBusy: Bool { loadAverage.map { $0 >= Double(cores) * 0.5 } ?? false }

    /// "load average 1.50 on 2 cores".
    public var text: String? {
        loadAverage.map { "load average \(String(format2: $0)) on \(cores) cores" }
    }

    /// What a report's first lines warn of, or nil when neither holds: more ranks on the
    /// host than it has cores (`ranksOnHost > cores`), or a host busy with other work
    /// (`isBusy`). `effect` says what that does to the figures, e.g. "the ratios measure
    /// the scheduler too". "WARNING: 4 ranks on 2 cores: ranks wait for a core, and ...".
    public func warning(ranksOnHost: Int, effect: String) -> String? {
        var parts: [String] = []
        if let clause = oversubscription(ranksOnHost: ranksOnHost, effect: effect) { parts.append(clause) }
        if isBusy, let text {
            parts.append(text + " before the run: the host was busy, so run again when it is quiet")
        }
        return parts.isEmpty ? nil : "WARNING: " + parts.joined(separator: "; ")
    }

    /// "4 ranks on 2 cores: ranks wait for a core, and `effect`" when the ranks outnumber
    /// the cores; nil otherwise.
    public func oversubscription(ranksOnHost: Int, effect: String) -> String? {
        ranksOnHost > cores ? "\(ranksOnHost) ranks on \(cores) cores: ranks wait for a core, and \(effect)" : nil
    }

    /// The warning of `warning(ranksOnHost:effect:)` for a run's measured times, with
    /// `modeled`: the times modeled on a system are not affected.
    public func measuredTimesWarning(ranksOnHost: Int, modeled: Bool) -> String? {
        warning(ranksOnHost: ranksOnHost, effect: "the measured times include that wait"
                + (modeled ? " (the modeled times do not: they read no clock)" : ""))
    }

    /// The ranks of `transport` on rank 0's host: every rank when emulated, under MPI the
    /// ranks mpirun placed on rank 0's node (`Launcher.nodeRanks`).
    public static func ranksOnFirstHost(_ transport: any Transport) -> Int {
        transport.ranksShareProcess ? transport.size : Launcher.nodeRanks(rank: 0, size: transport.size).count
    }

    private static func readLoadAverage() -> Double? {
        guard let text = BoundedRead.textIfReadable("/proc/loadavg"),
              let first = text.split(separator: " ").first else { return nil }
        return Double(first)
    }
}
