/// Where one rank's accepted assignments go, in the order they travel: the send side of
/// a token dispatch, computed from the routing decisions alone (no data, no transport).
///
/// Shapes (P ranks, L = the most experts any rank holds, W = `segmentWidth`, n = T × k
/// slots of the rank):
/// - `sendSegments` [P × W]: entry l < L of peer p is the assignments sent to (rank p,
///   its local expert l); with `dispatch.dedup: rank`, entry L is the rows sent to p
///   (W = L + 1; without dedup W = L and a row is an assignment). This is the count
///   message of the token dispatch.
/// - `sendRowCounts`, `sendRowDispls` [P]: rows per destination and their offsets;
/// - `sendSlot` [sendRows] (storage may be longer): the slot a = t·k + j of send row i
///   (with dedup: the first slot of token t bound for that rank); without dedup rows
///   are ordered by destination rank, then local expert, then slot; with dedup by
///   destination rank, then token;
/// - `rowOfSlot` [n]: the send row of slot a, or -1 when the slot was dropped or lies
///   outside the planned tokens (with dedup, a token's slots on one rank share a row);
/// - with dedup, `sendLocal` and `sendWeight` [sendRows × k]: the row's `DedupHeader`,
///   entry j = slot j's local expert on the row's rank and its weight, or -1 and 0;
/// - `sendCopyOf` [sendRows] (storage may be longer): for a row whose token already has
///   a row with a smaller index, that row (its encoded bytes are this row's), else -1.
///   Permute encodes each token once and copies the bytes for its other rows.
///
/// The arrays are kept and refilled by `plan(_:tokens:)`, so a plan reused from
/// step to step allocates only when a step sends more rows than any before.
public struct DispatchPlan: Sendable, Equatable {
    public let ranks: Int
    public let maxLocalExperts: Int
    public let dedup: DispatchDedup
    /// Count entries per peer in `sendSegments`: L, or L + 1 with dedup.
    public let segmentWidth: Int
    /// The tokens whose slots this plan dispatches (one chunk of an overlapped layer).
    public private(set) var tokens: Range<Int> = 0..<0
    public private(set) var sendSegments: [Int]
    public private(set) var sendRowCounts: [Int]
    public private(set) var sendRowDispls: [Int]
    public private(set) var sendSlot: [Int32] = []
    public private(set) var rowOfSlot: [Int32] = []
    public private(set) var sendLocal: [Int32] = []
    public private(set) var sendWeight: [Float] = []
    public private(set) var sendCopyOf: [Int32] = []
    public private(set) var sendRows = 0
    /// k of the latest plan.
    public private(set) var topK = 0
    /// Scratch: next free row of each segment (of each rank, with dedup).
    private var cursor: [Int]

    public init(ranks: Int, maxLocalExperts: Int, dedup: DispatchDedup = .none) {
        precondition(ranks > 0 && maxLocalExperts > 0, "DispatchPlan needs at least one rank and one expert")
        self.ranks = ranks
        self.maxLocalExperts = maxLocalExperts
        self.dedup = dedup
        segmentWidth = dedup == .rank ? maxLocalExperts + 1 : maxLocalExperts
        sendSegments = Array(repeating: 0, count: ranks * segmentWidth)
        cursor = Array(repeating: 0, count: ranks * maxLocalExperts)
        sendRowCounts = Array(repeating: 0, count: ranks)
        sendRowDispls = sendRowCounts
    }

    /// Bytes of metadata ahead of each row on the wire (`DedupHeader`; 0 without dedup).
    public var headerBytes: Int { dedup == .rank ? DedupHeader.bytes(topK: topK) : 0 }

    /// Plans the slots of `tokens` (all of the decisions' tokens when nil): buckets
    /// every accepted or rerouted slot by destination rank and local expert, keeping
    /// slot order within a bucket (Megatron-Core's permute order); with dedup, one row
    /// per (token, destination rank) in token order within a rank.
    public mutating func plan(_ d: RoutingDecisions, tokens range: Range<Int>? = nil) {
        let k = d.topK, n = d.assignments
        let tokens = range ?? 0..<d.tokens
        precondition(tokens.lowerBound >= 0 && tokens.upperBound <= d.tokens, "tokens \(tokens) outside 0..<\(d.tokens)")
        let sameRange = tokens == self.tokens && topK == k
        let slots = (tokens.lowerBound * k)..<(tokens.upperBound * k)
        topK = k
        if rowOfSlot.count != n {
            rowOfSlot = Array(repeating: -1, count: n)
        } else if !sameRange {
            // The slots outside the plan; those inside are all written below, and those
            // outside stay -1 for as long as the range does not change.
            for a in 0..<slots.lowerBound { rowOfSlot[a] = -1 }
            for a in slots.upperBound..<n { rowOfSlot[a] = -1 }
        }
        self.tokens = tokens
        if dedup == .rank {
            planDeduplicated(d, tokens: tokens)
        } else {
            planAssignments(d, slots: slots)
        }
        planCopies(tokens: tokens)
    }

    /// `sendCopyOf`: every row of a token after its first (smallest index) points at the
    /// first. O(T · k).
    private mutating func planCopies(tokens: Range<Int>) {
        let k = topK
        if sendCopyOf.count < sendRows { sendCopyOf = Array(repeating: -1, count: sendRows) }
        rowOfSlot.withUnsafeBufferPointer { rowOf in
            sendCopyOf.withUnsafeMutableBufferPointer { copyOf in
                for t in tokens {
                    var first = Int32.max
                    for j in 0..<k where rowOf[t * k + j] >= 0 { first = min(first, rowOf[t * k + j]) }
                    guard first != .max else { continue }
                    for j in 0..<k where rowOf[t * k + j] >= 0 {
                        let row = rowOf[t * k + j]
                        copyOf[Int(row)] = row == first ? -1 : first
                    }
                }
            }
        }
    }

    /// One row per surviving slot.
    private mutating func planAssignments(_ d: RoutingDecisions, slots: Range<Int>) {
        let P = ranks, L = maxLocalExperts
        for i in 0..<(P * L) { sendSegments[i] = 0 }
        var rows = 0
        for a in slots where d.destRank[a] >= 0 {
            sendSegments[Int(d.destRank[a]) * L + Int(d.destLocal[a])] += 1
            rows += 1
        }
        sendRows = rows
        var offset = 0
        for p in 0..<P {
            sendRowDispls[p] = offset
            for l in 0..<L {
                cursor[p * L + l] = offset
                offset += sendSegments[p * L + l]
            }
            sendRowCounts[p] = offset - sendRowDispls[p]
        }
        if sendSlot.count < rows { sendSlot = Array(repeating: 0, count: rows) }
        for a in slots {
            guard d.destRank[a] >= 0 else {
                rowOfSlot[a] = -1
                continue
            }
            let s = Int(d.destRank[a]) * L + Int(d.destLocal[a])
            let row = cursor[s]
            cursor[s] += 1
            sendSlot[row] = Int32(a)
            rowOfSlot[a] = Int32(row)
        }
    }

    /// One row per (token, destination rank): slot j of token t joins the row of the
    /// first earlier slot of t bound for the same rank, if any.
    private mutating func planDeduplicated(_ d: RoutingDecisions, tokens: Range<Int>) {
        let P = ranks, L = maxLocalExperts, W = segmentWidth, k = d.topK
        for i in 0..<(P * W) { sendSegments[i] = 0 }
        var rows = 0
        for t in tokens {
            for j in 0..<k {
                let a = t * k + j, p = Int(d.destRank[a])
                guard p >= 0 else { continue }
                sendSegments[p * W + Int(d.destLocal[a])] += 1
                if Self.earlierSlot(d, token: t, slot: j, topK: k) == nil {
                    sendSegments[p * W + L] += 1
                    rows += 1
                }
            }
        }
        sendRows = rows
        // The next free row of rank p lives in cursor[p · L].
        var offset = 0
        for p in 0..<P {
            sendRowDispls[p] = offset
            cursor[p * L] = offset
            sendRowCounts[p] = sendSegments[p * W + L]
            offset += sendRowCounts[p]
        }
        if sendSlot.count < rows { sendSlot = Array(repeating: 0, count: rows) }
        if sendLocal.count < rows * k {
            sendLocal = Array(repeating: -1, count: rows * k)
            sendWeight = Array(repeating: 0, count: rows * k)
        }
        for t in tokens {
            for j in 0..<k {
                let a = t * k + j, p = Int(d.destRank[a])
                guard p >= 0 else {
                    rowOfSlot[a] = -1
                    continue
                }
                let row: Int
                if let first = Self.earlierSlot(d, token: t, slot: j, topK: k) {
                    row = Int(rowOfSlot[t * k + first])
                } else {
                    row = cursor[p * L]
                    cursor[p * L] += 1
                    sendSlot[row] = Int32(a)
                    for m in 0..<k {
                        sendLocal[row * k + m] = -1
                        sendWeight[row * k + m] = 0
                    }
                }
                sendLocal[row * k + j] = d.destLocal[a]
                sendWeight[row * k + j] = d.weight[a]
                rowOfSlot[a] = Int32(row)
            }
        }
    }

    /// The first earlier slot of token t that goes to the same rank as slot j, if any.
    @inline(__always)
    private static func earlierSlot(_ d: RoutingDecisions, token t: Int, slot j: Int, topK k: Int) -> Int? {
        let p = d.destRank[t * k + j]
        for i in 0..<j where d.destRank[t * k + i] == p { return i }
        return nil
    }
}
