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
    /// chosen, weights [T × k]; bias [E].
    func run(
        tokens: Int,
        logits: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>,
        scores: UnsafeMutableBufferPointer<Float>, preference: UnsafeMutableBufferPointer<Int32>,
        chosen: UnsafeMutableBufferPointer<Int32>, weights: UnsafeMutableBufferPointer<Float>,
        scratch: Scratch
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
        for t in 0..<tokens {
            let l = l0 + t * E, s = s0 + t * E, pref = p0 + t * E
            applyScore(l, s)
            if biased || groups > 1 { exactScore(l, b, v) }
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
                RouterKernel.sort(sorted, scratch: scratch.merge, by: <)
            }
            if groups > 1 {
                limitGroups(v, pref, scratch)
            } else {
                for i in 0..<E { pref[i] = Int32(truncatingIfNeeded: keys[i]) }
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

    /// Keeps the best `groupsPerToken` groups by the sum of each group's top-2 values
    /// of `v` (Double score + bias; ties to the lower group index), then writes the
    /// first k experts of the sorted order that lie in kept groups, followed by all
    /// others in order.
    @inline(__always)
    private func limitGroups(_ v: UnsafePointer<Double>, _ pref: UnsafeMutablePointer<Int32>, _ scratch: Scratch) {
        let E = experts, k = topK, size = E / groups
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
        let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return ~ascending
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
