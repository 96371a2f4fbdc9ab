// What the estimate's worker threads share: per-rank storage each thread writes in
// place, and a wrapper that hands a non-Sendable value to `concurrentPerform`.

/// Fixed storage of one value per rank (or per rank and something), written by worker
/// threads through its subscript: each slot by one thread at a time, never resized, so
/// no copy-on-write or exclusivity check is shared between threads.
final class RankSlots<Element>: @unchecked Sendable {
    let count: Int
    private let base: UnsafeMutablePointer<Element>

    init(repeating value: Element, count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: value, count: count)
    }

    init(count: Int, _ make: (Int) -> Element) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        for i in 0..<count { (base + i).initialize(to: make(i)) }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    subscript(i: Int) -> Element {
        unsafeAddress {
            precondition(i >= 0 && i < count, "slot \(i) of \(count)")
            return UnsafePointer(base + i)
        }
        unsafeMutableAddress {
            precondition(i >= 0 && i < count, "slot \(i) of \(count)")
            return base + i
        }
    }

    /// `count` slots from `start`, to write in place.
    func buffer(_ start: Int, count n: Int) -> UnsafeMutableBufferPointer<Element> {
        precondition(start >= 0 && n >= 0 && start + n <= count, "slots \(start)..<\(start + n) of \(count)")
        return UnsafeMutableBufferPointer(start: base + start, count: n)
    }

    /// Every slot set to `value`.
    func reset(to value: Element) {
        for i in 0..<count { base[i] = value }
    }

    /// A copy of every slot, in order.
    var array: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }
}

/// A value handed to worker threads that only read it (a closure whose captures each
/// thread uses for its own ranks, a buffer read by all).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
