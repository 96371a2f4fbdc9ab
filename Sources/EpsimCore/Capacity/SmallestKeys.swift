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
}
