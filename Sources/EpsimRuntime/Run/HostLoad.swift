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

    private static func readLoadAverage() -> Double? {
        guard let text = BoundedRead.textIfReadable("/proc/loadavg"),
              let first = text.split(separator: " ").first else { return nil }
        return Double(first)
    }
}
