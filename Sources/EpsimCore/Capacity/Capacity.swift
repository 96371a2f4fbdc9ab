/// The capacity formulas of DESIGN.md, shared by the fast path (`CapacityDecider`)
/// and the reference (`ReferenceDecisions`), and, for the fast path only, the priority
/// orders and the `scope: global` grants: the reference orders and grants on its own,
/// so that the two are checked against each other.
public enum Capacity {
    /// Per-source-rank capacity for `scope: local`: `config.value` when it is set,
    /// otherwise C = max(min_capacity, ceil(T_r · k / E · cf)), nil = dropless (no factor).
    ///
    /// `config.rounding` says how the ceiling's argument is evaluated:
    /// - `exact`: (T_r · k / E) · cf in double precision, Megatron-Core's `get_capacity`
    ///   order (tokens per expert first, then the factor): T 500, k 1, E 10, cf 1.1 gives
    ///   55.00000000000001, so C = 56.
    /// - `float32`: as DeepSpeed 0.19's `_capacity` (deepspeed/moe/sharded_moe.py):
    ///   `ceil((T / E) * torch.tensor(cf * k))`, where T / E is a Python double and the
    ///   tensor is float32, so the product is float32(T / E) · float32(cf · k) rounded to
    ///   float32: T 25, k 1, E 2, cf 1.2 gives 15.000001 there, so C = 16 (15 exactly).
    ///
    /// A C above `maxCapacity` (2^53, where doubles stop counting exactly) is reported as
    /// `maxCapacity`: it is more than any rank's T·k (`ConfigValidator` keeps T·k < 2^31),
    /// so no assignment is dropped either way. A float32 product that overflows (cf near
    /// 1e6 with huge T) is infinite and reported the same way.
    ///
    /// - Parameters:
    ///   - tokens: T_r, the source rank's tokens (the world's for `global`).
    ///   - topK: k; experts: E (> 0).
    public static func local(_ config: CapacityConfig, tokens: Int, topK: Int, experts: Int) -> Int? {
        if let value = config.value { return min(value, maxCapacity) }
        guard let factor = config.factor else { return nil }
        let raw: Double
        switch config.rounding {
        case .exact:
            raw = (Double(tokens) * Double(topK) / Double(experts) * factor).rounded(.up)
        case .float32:
            let perExpert = Float(Double(tokens) / Double(experts))
            raw = Double((perExpert * Float(factor * Double(topK))).rounded(.up))
        }
        let c = raw.isFinite && raw < Double(maxCapacity) ? Int(raw) : maxCapacity
        return min(max(config.minCapacity, c), maxCapacity)
    }

    /// The zero-drop capacity factor of one demand: the smallest cf of the form
    /// d · E / (T · k) whose capacity holds `demand` d, so that C = d in exact arithmetic
    /// (any cf in ((d − 1) · E / (T · k), d · E / (T · k)] gives the same C; every cf at or
    /// below (d − 1) · E / (T · k) gives C < d unless `min_capacity` covers d).
    ///
    /// - 0 when `config.minCapacity` ≥ d (d = 0 included): any factor keeps d.
    /// - Otherwise d · E / (T · k), raised by one ulp (of double, or of float32 for
    ///   `float32`) at a time in the rare case that the
    ///   configured rounding (`exact` or `float32`) evaluates C below d for it, so that
    ///   `local` with `factor` = the result always gives C ≥ d (it may give d + 1 when the
    ///   product rounds up).
    ///
    /// `config.value` and `config.factor` are ignored (the question is which factor would
    /// have been needed); the caller reports nothing when `value` is set.
    ///
    /// - Parameters:
    ///   - demand: d, assignments that chose one expert (from one rank, or the world's for
    ///     `global`).
    ///   - tokens: T (the rank's, or the world's for `global`); > 0 when d > min_capacity.
    public static func zeroDropFactor(_ config: CapacityConfig, demand: Int, tokens: Int, topK: Int, experts: Int) -> Double {
        if demand <= config.minCapacity { return 0 }
        precondition(tokens > 0 && topK > 0 && experts > 0, "demand \(demand) from \(tokens) tokens, k \(topK), E \(experts)")
        var cf = Double(demand) * Double(experts) / (Double(tokens) * Double(topK))
        var probe = config
        probe.value = nil
        for _ in 0..<64 {
            probe.factor = cf
            if let c = local(probe, tokens: tokens, topK: topK, experts: experts), c >= demand { break }
            // One step of the precision the product is rounded to.
            cf = config.rounding == .float32 ? cf + cf * 0x1p-23 : cf.nextUp
        }
        return cf
    }

    /// The largest capacity reported: 2^53.
    public static let maxCapacity = 1 << 53

    /// Whole-world capacity for `scope: global`: the same formula on sum_r T_r.
    public static func global(_ config: CapacityConfig, totalTokens: Int, topK: Int, experts: Int) -> Int? {
        local(config, tokens: totalTokens, topK: topK, experts: experts)
    }

    /// One round of `scope: global` grants: the room left at each expert goes to the
    /// ranks in rank order, each receiving as much of its demand as the room still holds
    /// (the grants of the rank holding the expert's first copy). Every rank walks the
    /// whole world (the room must be reduced by every rank's grant) but keeps only its
    /// own row of grants.
    ///
    /// - Parameters:
    ///   - worldDemand: [P × E] row-major; row r is rank r's demand per expert.
    ///   - room: [E] the room left at each expert; reduced by what is granted to all ranks.
    ///   - rank: the rank whose grants are wanted (< P).
    ///   - quota: [E] receives the room granted to `rank` per expert.
    /// - Returns: the world's total demand (0: no rank has an assignment pending).
    public static func grant(worldDemand: [Int64], experts: Int, room: inout [Int],
                             rank: Int, into quota: inout [Int]) -> Int64 {
        let p = worldDemand.count / experts
        precondition(worldDemand.count == p * experts && rank >= 0 && rank < p
                         && quota.count == experts && room.count == experts,
                     "demand \(worldDemand.count), rank \(rank), quota \(quota.count), room \(room.count), E = \(experts)")
        var total: Int64 = 0
        for e in 0..<experts {
            var left = room[e]
            for r in 0..<p {
                let want = Int(worldDemand[r * experts + e])
                total += Int64(want)
                let granted = min(want, left)
                left -= granted
                if r == rank { quota[e] = granted }
            }
            room[e] = left
        }
        return total
    }

    /// Fills `order` with the assignment indices a = t*k + j of one rank, in the order
    /// in which they claim room at a full expert:
    /// - position: token, then slot (per expert this is token order);
    /// - slot_position: slot, then token (every first choice before any second);
    /// - score: slot weight descending, then token, then slot.
    ///
    /// `keys` and `sortScratch` are scratch of at least T·k entries, used by `score` only: it
    /// sorts the assignments' `scoreKey`s by weight with `sortByWeight`, allocating
    /// nothing.
    public static func priorityOrder(
        _ priority: Priority, tokens: Int, topK: Int,
        weights: UnsafeBufferPointer<Float>,
        keys: UnsafeMutableBufferPointer<UInt64>, sortScratch: UnsafeMutableBufferPointer<UInt64>,
        into order: UnsafeMutableBufferPointer<Int32>
    ) {
        let n = tokens * topK
        assert(order.count >= n && weights.count >= n)
        switch priority {
        case .position:
            for a in 0..<n { order[a] = Int32(a) }
        case .slotPosition:
            var i = 0
            for j in 0..<topK {
                for t in 0..<tokens {
                    order[i] = Int32(t * topK + j)
                    i += 1
                }
            }
        case .score:
            precondition(keys.count >= n && sortScratch.count >= n, "sort scratch \(keys.count), \(sortScratch.count) for \(n)")
            for a in 0..<n { keys[a] = scoreKey(weight: weights[a], assignment: a) }
            let sorted = sortByWeight(UnsafeMutableBufferPointer(rebasing: keys[0..<n]), scratch: sortScratch)
            for i in 0..<n { order[i] = Int32(truncatingIfNeeded: sorted[i]) }
        }
    }
}

/// What happened to one (token, slot) assignment.
public enum Outcome: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Accepted by its first-choice expert.
    case accepted = 0
    /// Its expert was full; accepted by another expert further down the token's preferences.
    case rerouted = 1
    /// Discarded: contributes nothing to the token's output.
    case dropped = 2

    public var description: String {
        switch self {
        case .accepted: return "accepted"
        case .rerouted: return "rerouted"
        case .dropped: return "dropped"
        }
    }
}
