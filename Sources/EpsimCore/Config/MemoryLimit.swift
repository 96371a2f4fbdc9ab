#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How much memory this process may still take: the smallest of what the machine has
/// available (MemAvailable in /proc/meminfo, else physical memory), what is left under
/// the address-space limit (RLIMIT_AS) and what is left under the cgroup's limit
/// (cgroup v2 memory.max, or v1 memory.limit_in_bytes), each where it is set.
public struct MemoryLimit: Sendable, Equatable {
    /// Bytes.
    public var bytes: Double
    /// Which limit it is, for messages: "MemAvailable", "RLIMIT_AS", "cgroup memory.max", ...
    public var source: String
    /// Bytes of address space left under RLIMIT_AS, when one is set. Address space is
    /// taken beyond the data a run touches (thread stacks, OpenBLAS's and malloc's
    /// per-thread reservations), and OpenBLAS retries for ever when it cannot map its
    /// buffer, so this is checked on its own (`MemoryEstimate.check`).
    public var addressSpace: Double?

    public init(bytes: Double, source: String, addressSpace: Double? = nil) {
        self.bytes = bytes
        self.source = source
        self.addressSpace = addressSpace
    }

    /// The limit now, read from the system.
    public static func current() -> MemoryLimit {
        var candidates: [MemoryLimit] = []
        if let available = meminfo("MemAvailable") {
            candidates.append(MemoryLimit(bytes: available, source: "MemAvailable"))
        } else {
            let pages = Double(sysconf(Int32(_SC_PHYS_PAGES))), size = Double(sysconf(Int32(_SC_PAGESIZE)))
            if pages > 0 && size > 0 { candidates.append(MemoryLimit(bytes: pages * size, source: "physical memory")) }
        }
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_AS.rawValue)
        #else
        let resource = RLIMIT_AS
        #endif
        var addressSpace: Double? = nil
        if getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max {
            addressSpace = Double(limit.rlim_cur) - virtualBytes()
            candidates.append(MemoryLimit(bytes: addressSpace!, source: "RLIMIT_AS"))
        }
        if let max = number("/sys/fs/cgroup/memory.max") {
            let used = number("/sys/fs/cgroup/memory.current") ?? 0
            candidates.append(MemoryLimit(bytes: max - used, source: "cgroup memory.max"))
        } else if let max = number("/sys/fs/cgroup/memory/memory.limit_in_bytes"), max < 1e18 {
            let used = number("/sys/fs/cgroup/memory/memory.usage_in_bytes") ?? 0
            candidates.append(MemoryLimit(bytes: max - used, source: "cgroup memory.limit_in_bytes"))
        }
        var smallest = candidates.min { $0.bytes < $1.bytes } ?? MemoryLimit(bytes: .infinity, source: "no limit known")
        smallest.addressSpace = addressSpace
        return smallest
    }

    /// A field of /proc/meminfo, in bytes.
    static func meminfo(_ field: String) -> Double? {
        guard let text = try? BoundedRead.text("/proc/meminfo", limit: 1 << 20).get() else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kib = Double(parts[1]) { return kib * 1024 }
        }
        return nil
    }

    /// A file holding one number (nil for "max", a missing file or anything else).
    static func number(_ path: String) -> Double? {
        guard let text = try? BoundedRead.text(path, limit: 4096).get() else { return nil }
        return Double(text.filter { !$0.isWhitespace })
    }

    /// This process's virtual size now, 0 where unknown.
    static func virtualBytes() -> Double { processMemoryBytes()?.size ?? 0 }
}

/// This process's virtual size and resident set now, in bytes (/proc/self/statm); nil
/// where there is no /proc.
public func processMemoryBytes() -> (size: Double, resident: Double)? {
    guard let text = BoundedRead.textIfReadable("/proc/self/statm", limit: 4096) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let size = Double(fields[0]), let resident = Double(fields[1]) else { return nil }
    let page = Double(sysconf(Int32(_SC_PAGESIZE)))
    return (size * page, resident * page)
}

/// Bytes in binary units with one decimal: "812 B", "1.5 KiB", "149.0 GiB".
public func memoryText(_ bytes: Double) -> String {
    guard bytes.isFinite else { return "unlimited" }
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = bytes, unit = 0
    while abs(value) >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(Int(value)) B" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10)) \(units[unit])"
}
