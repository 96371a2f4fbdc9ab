#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes at an address that does not move for as long as the object lives: the wire
/// buffers of the token dispatcher, the only memory a non-blocking exchange may hold on
/// to after the call that started it has returned.
///
/// This is the arena of the runtime: every other buffer is reached through a
/// `withUnsafe…` closure that ends before the memory can move. A pending exchange keeps
/// its two `WireBuffer`s alive (the request holds them) and marks them in flight; any
/// access while an exchange is in flight is a programming error and traps, so an
/// exchange can neither write into freed memory nor race with the code that packs or
/// unpacks the rows.
///
/// Large buffers ask for transparent huge pages (`LargeBuffer.adviseHugePages`), so
/// emulated ranks sharing one process fault them in 2 MiB at a time.
public final class WireBuffer: @unchecked Sendable {
    /// Usable bytes.
    public private(set) var byteCount: Int
    private var storage: UnsafeMutableRawPointer
    /// Exchanges started on this buffer and not yet completed.
    private var inFlight = 0

    /// A zero-filled buffer of `bytes` bytes (at least one byte is allocated, so two
    /// buffers never share an address, even empty).
    public init(bytes: Int = 0) {
        precondition(bytes >= 0, "WireBuffer: negative size \(bytes)")
        byteCount = bytes
        storage = WireBuffer.allocate(bytes)
    }

    deinit {
        // A request holds its buffers, so a buffer cannot die while in flight.
        assert(inFlight == 0)
        storage.deallocate()
    }

    /// Makes room for at least `bytes` bytes; the contents are not kept when it grows.
    /// The first growth is exact (most layouts never grow after the first step); later
    /// ones add half again, since routing varies from step to step. Traps while an
    /// exchange is in flight.
    public func reserve(bytes: Int) {
        precondition(inFlight == 0, "WireBuffer resized while an exchange is in flight")
        guard bytes > byteCount else { return }
        let size = LargeBuffer.grownSize(from: byteCount, to: bytes)
        storage.deallocate()
        storage = WireBuffer.allocate(size)
        byteCount = size
    }

    /// Whether an exchange is using the buffer.
    public var isInFlight: Bool { inFlight > 0 }

    /// Calls `body` with the bytes. Traps while an exchange is in flight.
    public func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        precondition(inFlight == 0, "WireBuffer accessed while an exchange is in flight")
        return try body(UnsafeMutableRawBufferPointer(start: storage, count: byteCount))
    }

    /// Calls `body` with the bytes, read-only. Traps while an exchange is in flight.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(inFlight == 0, "WireBuffer accessed while an exchange is in flight")
        return try body(UnsafeRawBufferPointer(start: storage, count: byteCount))
    }

    /// For transports only: marks the buffer in flight and returns its address, which
    /// stays valid until `endExchange()` because the request that calls it holds the
    /// buffer.
    package func beginExchange() -> UnsafeMutableRawBufferPointer {
        inFlight += 1
        return UnsafeMutableRawBufferPointer(start: storage, count: byteCount)
    }

    /// For transports only: the exchange started with `beginExchange()` has completed.
    package func endExchange() {
        precondition(inFlight > 0, "WireBuffer: endExchange without beginExchange")
        inFlight -= 1
    }

    private static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let count = max(bytes, 1)
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        LargeBuffer.adviseHugePages(UnsafeMutableRawBufferPointer(start: pointer, count: count))
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        return pointer
    }
}
