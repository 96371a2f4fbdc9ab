#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutex with a condition variable (pthread), for threads that must sleep until
/// shared state changes. Synchronization's `Mutex` has no condition variable, so the
/// emulated transport's rendezvous use this, as swift-nio's `ConditionLock` does.
///
/// `@unchecked Sendable`: the pthread objects live in heap memory that is never moved
/// and is only touched through pthread calls, which are thread-safe by contract.
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        let m = pthread_mutex_init(mutex, nil)
        let c = pthread_cond_init(condition, nil)
        precondition(m == 0 && c == 0, "pthread init failed")
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Runs `body` holding the mutex.
    @inline(__always)
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Sleeps until woken; call only while holding the mutex (inside `withLock`).
    /// Callers re-check their condition in a loop (spurious wake-ups are allowed).
    func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Wakes every sleeper; call while holding the mutex.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
