#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EpsimCore

/// Peak resident set size of this process in bytes (getrusage). Emulated ranks share
/// one process, so they all report the process's peak.
public func processPeakResidentBytes() -> Int64 {
    #if os(Linux)
    let RUSAGE_SELF_WHO = __rusage_who_t(RUSAGE_SELF.rawValue)
    #else
    let RUSAGE_SELF_WHO = RUSAGE_SELF
    #endif
    var usage = rusage()
    guard getrusage(RUSAGE_SELF_WHO, &usage) == 0 else { return 0 }
    #if os(Linux)
    return Int64(usage.ru_maxrss) * 1024
    #else
    return Int64(usage.ru_maxrss)
    #endif
}

/// This process's resident set size now, in bytes (/proc/self/statm; 0 where there is
/// no /proc).
public func currentResidentBytes() -> Int64 {
    Int64(processMemoryBytes()?.resident ?? 0)
}
