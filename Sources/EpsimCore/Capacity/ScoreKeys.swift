// The packed keys of the `score` priority: how they are made, selected and sorted.
extension Capacity {
    /// The packed key of assignment `a` in the `score` priority order: the
    /// descending-order bits of its weight, then `a` itself, so that keys sort ascending
    /// by weight descending, then token, then slot, and no two keys are equal.
    /// `descendingBits` adds +0 first: −0 and +0 weights tie (by index), as `==` says.
    @inline(__always)
    static func scoreKey(weight: Float, assignment a: Int) -> UInt64 {
        UInt64(RouterKernel.descendingBits(weight)) << 32 | UInt64(UInt32(truncatingIfNeeded: a))
    }

    /// Moves the `count` smallest of `keys` (all distinct) to its front, in no
    /// particular order; the others follow, unordered too. With `scoreKey`s these are
    /// the assignments that a full expert with `count` places left accepts, found
    /// without sorting all of them.
    ///
    /// Quickselect: partitions around the median of three keys (branch-free Lomuto) and
    /// goes on in the part that holds the boundary; a part of 16 keys or fewer is sorted
    /// (`RouterKernel.sort`, insertion sort at that size). After `depthLimit` partitions
    /// (by default 2·log2(n) + 4, far more than a random order needs) the part left is
    /// merge-sorted through `scratch` (at least as long as `keys`), so the worst case
    /// stays O(n log n). No allocation.
    static func moveSmallest(
        _ count: Int, toFrontOf keys: UnsafeMutableBufferPointer<UInt64>,
        scratch: UnsafeMutableBufferPointer<UInt64>, depthLimit: Int? = nil
    ) {
        let n = keys.count
        precondition(count >= 0 && count <= n && scratch.count >= n, "select \(count) of \(n), scratch \(scratch.count)")
        // keys[..<lo] < keys[lo..<hi] < keys[hi...], and lo <= count <= hi.
        var lo = 0, hi = n
        var depth = depthLimit ?? 2 * (Int.bitWidth - n.leadingZeroBitCount) + 4
        while lo < count && count < hi {
            if hi - lo <= 16 || depth <= 0 {
                RouterKernel.sort(UnsafeMutableBufferPointer(rebasing: keys[lo..<hi]), scratch: scratch, by: <)
                return
            }
            depth -= 1
            let p = partition(keys, lo, hi)
            if count <= p { hi = p } else { lo = p + 1 }
        }
    }

    /// Partitions keys[lo..<hi] (at least 3) around the median of its first, middle and
    /// last keys; returns the pivot's place p: keys[lo..<p] < keys[p] < keys[(p+1)..<hi].
    @inline(__always)
    private static func partition(_ keys: UnsafeMutableBufferPointer<UInt64>, _ lo: Int, _ hi: Int) -> Int {
        let mid = lo + (hi - lo) / 2, last = hi - 1
        if keys[mid] < keys[lo] { keys.swapAt(mid, lo) }
        if keys[last] < keys[lo] { keys.swapAt(last, lo) }
        if keys[last] < keys[mid] { keys.swapAt(last, mid) }
        keys.swapAt(mid, last)
        let pivot = keys[last]
        // keys[lo..<store] < pivot <= keys[store..<i]; every key is swapped, and the
        // store advances past it only if it is smaller, so the loop has no branch.
        var store = lo
        for i in lo..<last {
            let v = keys[i]
            keys[i] = keys[store]
            keys[store] = v
            store += v < pivot ? 1 : 0
        }
        keys.swapAt(store, last)
        return store
    }

    /// Sorts `keys` (`scoreKey`s, in any order) ascending by their weight bits (the high
    /// 32 bits), keeping the order of equal weights: an LSD radix sort, one byte per pass
    /// between `keys` and `scratch` (at least as long), skipping the bytes that all keys
    /// share. Given the keys in assignment order it yields the full score priority order,
    /// ties by token, then slot. No allocation (the counts live on the stack).
    ///
    /// - Returns: the buffer holding the sorted keys: `keys` or the front of `scratch`.
    static func sortByWeight(
        _ keys: UnsafeMutableBufferPointer<UInt64>, scratch: UnsafeMutableBufferPointer<UInt64>
    ) -> UnsafeMutableBufferPointer<UInt64> {
        let n = keys.count
        precondition(scratch.count >= n, "sort scratch \(scratch.count) for \(n)")
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * 256) { counts in
            counts.initialize(repeating: 0)
            for key in keys {
                for pass in 0..<4 { counts[pass << 8 | Int(truncatingIfNeeded: key >> (32 + 8 * pass)) & 0xFF] += 1 }
            }
            var from = keys, to = UnsafeMutableBufferPointer(rebasing: scratch[0..<n])
            for pass in 0..<4 {
                let count = UnsafeMutableBufferPointer(rebasing: counts[(pass << 8)..<((pass + 1) << 8)])
                if count.contains(n) { continue }  // one byte value for all: nothing moves
                var start = 0
                for b in 0..<256 {
                    let c = count[b]
                    count[b] = start
                    start += c
                }
                let shift = UInt64(32 + 8 * pass)
                for key in from {
                    let b = Int(truncatingIfNeeded: key >> shift) & 0xFF
                    to[count[b]] = key
                    count[b] += 1
                }
                swap(&from, &to)
            }
            return from
        }
    }
}
