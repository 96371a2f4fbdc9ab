#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zero-filled arrays for the large per-rank buffers (token rows, wire buffers).
///
/// Many emulated ranks allocating gigabytes at once spend most of their time in page
/// faults, which the kernel serializes per process; asking for transparent huge pages
/// (where the kernel offers them on request, as with `madvise` mode) makes each fault
/// map 2 MiB instead of 4 KiB. Small arrays are allocated as usual.
enum LargeBuffer {
    /// Below this many bytes the advice is not worth a system call.
    static let threshold = 4 << 20

    /// Makes `buffer` hold at least `count` elements. The first allocation is exact (most
    /// layouts never grow after the first step); later ones add half as much again, since
    /// routing varies from step to step and growing to the exact size would reallocate
    /// and zero-fill every time a step needs a few more rows than any before.
    static func grow<T: BitwiseCopyable & Numeric>(_ buffer: inout [T], to count: Int) {
        guard buffer.count < count else { return }
        buffer = zeros(grownSize(from: buffer.count, to: count))
    }

    /// The size a buffer of `current` elements grows to when `count` are needed: exact
    /// the first time, half again more after that (shared with `WireBuffer`).
    static func grownSize(from current: Int, to count: Int) -> Int {
        current == 0 ? count : count + count / 2
    }

    static func zeros<T: BitwiseCopyable & Numeric>(_ count: Int) -> [T] {
        let bytes = count * MemoryLayout<T>.stride
        guard bytes >= threshold else { return Array(repeating: 0, count: count) }
        return Array(unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            adviseHugePages(raw)
            raw.initializeMemory(as: UInt8.self, repeating: 0)
            initialized = count
        }
    }

    /// Asks for transparent huge pages on the 2 MiB-aligned part of `raw` (Linux; a
    /// no-op elsewhere or when the kernel declines). Used for every large buffer: the
    /// arrays above and the wire buffers (`WireBuffer`).
    static func adviseHugePages(_ raw: UnsafeMutableRawBufferPointer) {
        #if os(Linux)
        guard let base = raw.baseAddress, raw.count >= threshold else { return }
        // madvise needs a page-aligned start.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = Int(bitPattern: base) + raw.count
        if end > start, let address = UnsafeMutableRawPointer(bitPattern: start) {
            _ = madvise(address, end - start, MADV_HUGEPAGE)
        }
        #endif
    }
}
