#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-token decision stage of `Router`: scores, preference order, group limit,
/// chosen experts and slot weights, from logits already in place (all finite: the
/// router checks them first). No allocation: every buffer is passed in.
///
/// Ranking never uses the rounded float32 scores, which underflow and saturate into
/// ties the logits do not have. Without a bias, experts are ranked by the logit (both
/// score functions are increasing in it); with a bias, by score + bias computed in
/// Double from the logits (`exactScore`), equal values by logit. Equal logits go to
/// the lower expert index. Group scores use the same Double values.
struct RouterKernel {
    let experts: Int
    let topK: Int
    let groups: Int
    let groupsPerToken: Int
    let score: ScoreFunction
    let weightMode: WeightMode
    /// Some bias entry is nonzero (see `RouterSpec.biased`).
    let biased: Bool
    /// The first choice is the lowest-index expert of the highest float32 score
    /// (`router.first_choice: float32_score`; no bias, no groups).
    let firstByScore: Bool

    /// Scratch for one token: `keys` and `merge` hold E packed sort keys, `exact` E
    /// Double scores + bias, `groupScore` and `groupKept` G entries.
    struct Scratch {
        var keys: UnsafeMutableBufferPointer<UInt64>
        var merge: UnsafeMutableBufferPointer<UInt64>
        var exact: UnsafeMutableBufferPointer<Double>
        var groupScore: UnsafeMutableBufferPointer<Double>
        var groupKept: UnsafeMutableBufferPointer<Bool>
    }

    /// Decides `tokens` tokens. Shapes: logits, scores, preference [T × E];
    /// chosen, weights [T × k]; bias [E]. With `fullPreference` false, only the first k
    /// entries of each token's preference are written, its chosen experts in order
    /// (`Router.fullPreference`); the chosen experts are the same.
    func run(
        tokens: Int,
        logits: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>,
        scores: UnsafeMutableBufferPointer<Float>, preference: UnsafeMutableBufferPointer<Int32>,
        chosen: UnsafeMutableBufferPointer<Int32>, weights: UnsafeMutableBufferPointer<Float>,
        fullPreference: Bool = true, scratch: Scratch
    ) {
        let E = experts, k = topK
        precondition(logits.count >= tokens * E && scores.count >= tokens * E && preference.count >= tokens * E)
        precondition(chosen.count >= tokens * k && weights.count >= tokens * k && bias.count == E)
        precondition(scratch.keys.count >= E && scratch.merge.count >= E && scratch.exact.count >= E)
        precondition(scratch.groupScore.count >= groups && scratch.groupKept.count >= groups)
        guard tokens > 0 else { return }
        let l0 = logits.baseAddress!, s0 = scores.baseAddress!, p0 = preference.baseAddress!
        let c0 = chosen.baseAddress!, w0 = weights.baseAddress!, b = bias.baseAddress!
        let keys = scratch.keys.baseAddress!, v = scratch.exact.baseAddress!
        let sorted = UnsafeMutableBufferPointer(start: keys, count: E)
        // The k chosen by one selection pass when nothing reads the order past them.
        let selects = !fullPreference && 4 * k <= E
        for t in 0..<tokens {
            let l = l0 + t * E, s = s0 + t * E, pref = p0 + t * E
            applyScore(l, s)
            // Without a bias the group scores need only each group's two best (sigmoid:
            // `sigmoidGroupScores` computes them from the logits); otherwise every expert's.
            if biased || (groups > 1 && score == .softmax) { exactScore(l, b, v) }
            if groups > 1 && !biased && score == .sigmoid { sigmoidGroupScores(l, v, scratch, keepKeys: selects) }
            if selects {
                selectChosen(l, v, pref, scratch)
            } else {
                if biased {
                    // By score + bias (Double) descending, then logit descending, then index.
                    for e in 0..<E { keys[e] = UInt64(e) }
                    RouterKernel.sort(sorted, scratch: scratch.merge) { x, y in
                        let i = Int(x), j = Int(y)
                        if v[i] != v[j] { return v[i] > v[j] }
                        if l[i] != l[j] { return l[i] > l[j] }
                        return i < j
                    }
                } else {
                    // By logit descending, ties to the lower index: sort packed
                    // (descending-order bits of the logit, expert index) ascending.
                    for e in 0..<E { keys[e] = UInt64(RouterKernel.descendingBits(l[e])) << 32 | UInt64(e) }
                    RouterKernel.radixSort(sorted, scratch: scratch.merge)
                }
                if groups > 1 {
                    limitGroups(v, pref, scratch)
                } else {
                    for i in 0..<E { pref[i] = Int32(truncatingIfNeeded: keys[i]) }
                }
            }
            if firstByScore { scoreFirst(s, pref) }
            let c = c0 + t * k, w = w0 + t * k
            for j in 0..<k { c[j] = pref[j] }
            applyWeights(l, s, c, w)
        }
    }

    /// Moves the lowest-index expert whose float32 score equals the best one (the first
    /// of the logit ranking has the highest score: softmax and sigmoid round monotonely)
    /// to the front of `pref` [E], keeping the order of the others (DeepSpeed's argmax).
    @inline(__always)
    private func scoreFirst(_ s: UnsafePointer<Float>, _ pref: UnsafeMutablePointer<Int32>) {
        let best = s[Int(pref[0])]
        var first = 0
        while s[first] != best { first += 1 }
        var i = 0
        while pref[i] != Int32(first) { i += 1 }
        while i > 0 {
            pref[i] = pref[i - 1]
            i -= 1
        }
        pref[0] = Int32(first)
    }

    /// v [E] = score + bias in Double, from the logits: softmax exp(l_e − max) / Σ (sum
    /// in expert order) or sigmoid 1 / (1 + exp(−l_e)). Double keeps apart what float32
    /// rounds together (sigmoid(17) and sigmoid(20), probabilities below 1e-45).
    @inline(__always)
    private func exactScore(_ l: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Double>) {
        let E = experts
        switch score {
        case .softmax:
            var m = Double(l[0])
            for e in 1..<E where Double(l[e]) > m { m = Double(l[e]) }
            var sum = 0.0
            for e in 0..<E {
                v[e] = exp(Double(l[e]) - m)
                sum += v[e]
            }
            for e in 0..<E { v[e] = v[e] / sum + Double(b[e]) }
        case .sigmoid:
            for e in 0..<E { v[e] = 1 / (1 + exp(-Double(l[e]))) + Double(b[e]) }
        }
    }

    /// Without a bias and with sigmoid scores, `limitGroups` reads of each group only its
    /// two largest values of `v`, which are the sigmoids of its two largest logits
    /// (sigmoid is increasing): those two are written, as `exactScore` computes them, and
    /// every other entry of the group is set below them (-1, under any sigmoid). The
    /// group scores, and so the groups kept, are those of the full computation.
    ///
    /// With `keepKeys` it also leaves, for `selectChosen`, each group's two ranking keys
    /// (as the unbiased sort orders them) in `scratch.merge`'s last 2G entries
    /// (`groupBestKeys`); a full sort would overwrite them.
    @inline(__always)
    private func sigmoidGroupScores(_ l: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Double>, _ scratch: Scratch,
                                    keepKeys: Bool) {
        let size = experts / groups
        let known = keepKeys ? groupBestKeys(scratch) : nil
        for g in 0..<groups {
            var first = g * size, second = -1
            for e in (g * size + 1)..<((g + 1) * size) {
                if l[e] > l[first] { second = first; first = e } else if second < 0 || l[e] > l[second] { second = e }
            }
            for e in (g * size)..<((g + 1) * size) { v[e] = -1 }
            v[first] = 1 / (1 + exp(-Double(l[first])))
            if second >= 0 { v[second] = 1 / (1 + exp(-Double(l[second]))) }
            if let known {
                known[2 * g] = UInt64(RouterKernel.descendingBits(l[first])) << 32 | UInt64(first)
                known[2 * g + 1] = UInt64(RouterKernel.descendingBits(l[second])) << 32 | UInt64(second)
            }
        }
    }

    /// Where `sigmoidGroupScores` leaves each group's two best keys: the last 2G entries
    /// of `scratch.merge`, when groups have two experts or more and those entries lie
    /// past the k that `selectChosen` keeps at its front; nil otherwise.
    @inline(__always)
    private func groupBestKeys(_ scratch: Scratch) -> UnsafeMutablePointer<UInt64>? {
        guard experts / groups >= 2, 2 * groups + topK <= experts else { return nil }
        return scratch.merge.baseAddress! + (experts - 2 * groups)
    }

    @inline(__always)
    private func applyScore(_ l: UnsafePointer<Float>, _ s: UnsafeMutablePointer<Float>) {
        let E = experts
        switch score {
        case .softmax:
            var m = l[0]
            for e in 1..<E where l[e] > m { m = l[e] }
            var sum: Float = 0
            for e in 0..<E {
                let v = exp(l[e] - m)
                s[e] = v
                sum += v
            }
            for e in 0..<E { s[e] = s[e] / sum }
        case .sigmoid:
            for e in 0..<E { s[e] = 1 / (1 + exp(-l[e])) }
        }
    }

    /// The first k experts of the full ranking (in kept groups when groups are limited),
    /// in order, into pref[0..<k] (and, for `scoreFirst`, every other expert by index
    /// into pref[k..<E]; otherwise those entries are left as they were), without
    /// sorting all E: one pass keeping the best k seen so far, in the ranking's
    /// order (by logit then index without a bias; by score + bias, logit, index with
    /// one). The chosen experts equal the full path's first k.
    @inline(__always)
    private func selectChosen(_ l: UnsafePointer<Float>, _ v: UnsafePointer<Double>, _ pref: UnsafeMutablePointer<Int32>,
                              _ scratch: Scratch) {
        let E = experts, k = topK, size = E / groups
        let kept = scratch.groupKept.baseAddress!
        if groups > 1 { keepGroups(v, scratch) }
        var n = 0
        if biased {
            // pref[0..<n]: the best experts so far, best first.
            @inline(__always) func better(_ i: Int, _ j: Int) -> Bool {
                if v[i] != v[j] { return v[i] > v[j] }
                if l[i] != l[j] { return l[i] > l[j] }
                return i < j
            }
            for g in 0..<groups where groups == 1 || kept[g] {
                for e in (g * size)..<((g + 1) * size) {
                    if n == k && !better(e, Int(pref[k - 1])) { continue }
                    var i = n < k ? n : k - 1
                    if n < k { n += 1 }
                    while i > 0 && better(e, Int(pref[i - 1])) {
                        pref[i] = pref[i - 1]
                        i -= 1
                    }
                    pref[i] = Int32(e)
                }
            }
        } else {
            // top[0..<n]: the smallest keys so far (the sort's order), ascending.
            let top = scratch.merge.baseAddress!
            var worst = UInt64.max
            // With sigmoid group scores, the kept groups' two best keys are known: when
            // they are at least k, the k-th best key is no larger than their largest, so
            // only keys up to it need a place (fewer insertions, each a mispredicted
            // branch). Keys are distinct (the index is in them).
            if score == .sigmoid && groups > 1 && 2 * groupsPerToken >= k, let known = groupBestKeys(scratch) {
                var bound: UInt64 = 0
                for g in 0..<groups where kept[g] { bound = max(bound, known[2 * g], known[2 * g + 1]) }
                worst = bound + 1
            }
            for g in 0..<groups where groups == 1 || kept[g] {
                for e in (g * size)..<((g + 1) * size) {
                    let key = UInt64(RouterKernel.descendingBits(l[e])) << 32 | UInt64(e)
                    if key >= worst { continue }
                    var i = n < k ? n : k - 1
                    if n < k { n += 1 }
                    while i > 0 && key < top[i - 1] {
                        top[i] = top[i - 1]
                        i -= 1
                    }
                    top[i] = key
                    if n == k { worst = top[k - 1] }
                }
            }
            for j in 0..<n { pref[j] = Int32(truncatingIfNeeded: top[j]) }
        }
        assert(n == k, "fewer than k experts in the kept groups")
        // Only DeepSpeed's first choice (`scoreFirst`) looks past the chosen experts.
        guard firstByScore else { return }
        let taken = scratch.keys.baseAddress!
        taken.update(repeating: 0, count: E)
        for j in 0..<k { taken[Int(pref[j])] = 1 }
        var back = k
        for e in 0..<E where taken[e] == 0 {
            pref[back] = Int32(e)
            back += 1
        }
    }

    /// Marks in `scratch.groupKept` the best `groupsPerToken` groups by the sum of each
    /// group's top-2 values of `v` (Double score + bias; ties to the lower group index).
    @inline(__always)
    private func keepGroups(_ v: UnsafePointer<Double>, _ scratch: Scratch) {
        let E = experts, size = E / groups
        let gs = scratch.groupScore.baseAddress!, kept = scratch.groupKept.baseAddress!
        for g in 0..<groups {
            var top1 = -Double.infinity, top2 = -Double.infinity
            for e in (g * size)..<((g + 1) * size) {
                if v[e] > top1 { top2 = top1; top1 = v[e] } else if v[e] > top2 { top2 = v[e] }
            }
            gs[g] = size >= 2 ? top1 + top2 : top1
            kept[g] = false
        }
        for _ in 0..<groupsPerToken {
            var best = -1
            for g in 0..<groups where !kept[g] && (best < 0 || gs[g] > gs[best]) { best = g }
            kept[best] = true
        }
    }

    /// Keeps the best groups (`keepGroups`), then writes the first k experts of the
    /// sorted order that lie in kept groups, followed by all others in order.
    @inline(__always)
    private func limitGroups(_ v: UnsafePointer<Double>, _ pref: UnsafeMutablePointer<Int32>, _ scratch: Scratch) {
        let E = experts, k = topK, size = E / groups
        let kept = scratch.groupKept.baseAddress!
        keepGroups(v, scratch)
        let keys = scratch.keys.baseAddress!
        var front = 0, back = k
        for i in 0..<E {
            let e = Int32(truncatingIfNeeded: keys[i])
            if front < k && kept[Int(e) / size] {
                pref[front] = e
                front += 1
            } else {
                pref[back] = e
                back += 1
            }
        }
        assert(front == k && back == E)
    }

    @inline(__always)
    private func applyWeights(
        _ l: UnsafePointer<Float>, _ s: UnsafePointer<Float>,
        _ c: UnsafePointer<Int32>, _ w: UnsafeMutablePointer<Float>
    ) {
        let k = topK
        switch weightMode {
        case .softmaxTopK:
            var m = l[Int(c[0])]
            for j in 1..<k where l[Int(c[j])] > m { m = l[Int(c[j])] }
            var sum: Float = 0
            for j in 0..<k {
                let v = exp(l[Int(c[j])] - m)
                w[j] = v
                sum += v
            }
            for j in 0..<k { w[j] = w[j] / sum }
        case .normalized:
            var sum: Float = 0
            for j in 0..<k { sum += s[Int(c[j])] }
            if sum > 0 {
                for j in 0..<k { w[j] = s[Int(c[j])] / sum }
            } else {
                for j in 0..<k { w[j] = 1 / Float(k) }
            }
        case .raw:
            for j in 0..<k { w[j] = s[Int(c[j])] }
        }
    }

    /// Maps a Float to bits whose ascending unsigned order is the Float's descending
    /// order (-0 is treated as +0; no NaN reaches here).
    @inline(__always)
    static func descendingBits(_ f: Float) -> UInt32 {
        let bits = (f + 0).bitPattern
        // Negative: every bit flipped; otherwise the sign bit set (no branch: the sign
        // bit spread over the word chooses the mask).
        let mask = UInt32(bitPattern: Int32(bitPattern: bits) >> 31) | 0x8000_0000
        return ~(bits ^ mask)
    }

    /// Sorts keys ascending in place when they are (32 sort bits) << 32 | index and arrive
    /// in index order (the unbiased ranking's keys): a stable least-significant-digit
    /// radix sort on the sort bits, 8 bits a pass, a pass skipped where every key has the
    /// same digit. Stable on arrival order, so equal sort bits stay in index order: the
    /// order `sort(_:scratch:by: <)` gives, without its data-dependent branches.
    @inline(__always)
    static func radixSort(_ a: UnsafeMutableBufferPointer<UInt64>, scratch: UnsafeMutableBufferPointer<UInt64>) {
        let n = a.count
        guard n > 1 else { return }
        precondition(scratch.count >= n)
        // The four digits' histograms in one read.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * 256) { c in
            let h = c.baseAddress!
            h.initialize(repeating: 0, count: 4 * 256)
            for i in 0..<n {
                let bits = UInt32(truncatingIfNeeded: a[i] >> 32)
                h[Int(bits & 0xFF)] += 1
                h[256 + Int((bits >> 8) & 0xFF)] += 1
                h[512 + Int((bits >> 16) & 0xFF)] += 1
                h[768 + Int(bits >> 24)] += 1
            }
            var src = a.baseAddress!, dst = scratch.baseAddress!
            for pass in 0..<4 {
                let hist = h + pass * 256, shift = UInt64(32 + 8 * pass)
                if hist[Int((src[0] >> shift) & 0xFF)] == n { continue }
                var start = 0
                for d in 0..<256 {
                    let count = hist[d]
                    hist[d] = start
                    start += count
                }
                for i in 0..<n {
                    let key = src[i]
                    let d = Int((key >> shift) & 0xFF)
                    dst[hist[d]] = key
                    hist[d] += 1
                }
                swap(&src, &dst)
            }
            if src != a.baseAddress! { a.baseAddress!.update(from: src, count: n) }
        }
    }

    /// Sorts keys ascending by `less` (a strict total order on them) in place: insertion
    /// sort on runs of 16, then bottom-up merges through `scratch` (at least as long as
    /// `a`). Stable. No allocation.
    @inline(__always)
    static func sort(_ a: UnsafeMutableBufferPointer<UInt64>, scratch: UnsafeMutableBufferPointer<UInt64>,
                     by less: (UInt64, UInt64) -> Bool) {
        let n = a.count, run = 16
        guard n > 1 else { return }
        precondition(scratch.count >= n)
        var start = 0
        while start < n {
            let end = min(start + run, n)
            var i = start + 1
            while i < end {
                let v = a[i]
                var j = i
                while j > start && less(v, a[j - 1]) { a[j] = a[j - 1]; j -= 1 }
                a[j] = v
                i += 1
            }
            start = end
        }
        var src = a.baseAddress!, dst = scratch.baseAddress!
        var width = run
        while width < n {
            var lo = 0
            while lo < n {
                let mid = min(lo + width, n), hi = min(lo + 2 * width, n)
                var i = lo, j = mid, o = lo
                while i < mid && j < hi {
                    if less(src[j], src[i]) { dst[o] = src[j]; j += 1 } else { dst[o] = src[i]; i += 1 }
                    o += 1
                }
                while i < mid { dst[o] = src[i]; i += 1; o += 1 }
                while j < hi { dst[o] = src[j]; j += 1; o += 1 }
                lo = hi
            }
            swap(&src, &dst)
            width *= 2
        }
        if src != a.baseAddress! { a.baseAddress!.update(from: src, count: n) }
    }
}
