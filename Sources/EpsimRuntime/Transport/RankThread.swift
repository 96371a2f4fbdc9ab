#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A detached POSIX thread running a closure, started with pthread_create so that a
/// failure to start it is seen (Foundation's `Thread.start()` reports none, and a rank
/// that never starts would leave its peers waiting for ever).
enum RankThread {
    /// Starts `body` on a new detached thread with a stack of `stackBytes`; on failure
    /// returns pthread_create's error as text ("Resource temporarily unavailable"), nil
    /// when the thread runs.
    static func start(stackBytes: Int, _ body: @escaping @Sendable () -> Void) -> String? {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let stackCode = pthread_attr_setstacksize(&attributes, stackBytes)
        guard stackCode == 0 else { return "stack of \(stackBytes) bytes: \(String(cString: strerror(stackCode)))" }
        let box = Unmanaged.passRetained(Box(body))
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t? = nil
        #endif
        let code = pthread_create(&thread, &attributes, { raw in
            #if canImport(Glibc)
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            #else
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            #endif
            box.body()
            return nil
        }, box.toOpaque())
        guard code == 0 else {
            box.release()
            return String(cString: strerror(code))
        }
        return nil
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
