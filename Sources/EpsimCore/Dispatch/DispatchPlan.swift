/// Where one rank's accepted assignments go, in the order they travel: the send side of
/// a token dispatch, computed from the routing decisions alone (no data, no transport).
///
/// Shapes (P ranks, L = the most experts any rank holds, n = T × k slots of the rank):
/// - `sendSegments` [P × L]: rows sent to (destination rank p, its local expert l);
/// - `sendRowCounts`, `sendRowDispls` [P]: rows per destination and their offsets;
/// - `sendSlot` [sendRows] (storage may be longer): the slot a = t·k + j of send row i;
///   rows are ordered by destination rank, then local expert, then slot;
/// - `rowOfSlot` [n]: the send row of slot a, or -1 when the slot was dropped or lies
///   outside the planned tokens.
///
/// The arrays are kept and refilled by `plan(_:tokens:)`, so a plan reused from
/// step to step allocates only when a step sends more rows than any before.
public struct DispatchPlan: Sendable, Equatable {
    public let ranks: Int
    public let maxLocalExperts: Int
    /// The tokens whose slots this plan dispatches (one chunk of an overlapped layer).
    public private(set) var tokens: Range<Int> = 0..<0
    public private(set) var sendSegments: [Int]
    public private(set) var sendRowCounts: [Int]
    public private(set) var sendRowDispls: [Int]
    public private(set) var sendSlot: [Int32] = []
    public private(set) var rowOfSlot: [Int32] = []
    public private(set) var sendRows = 0
    /// Scratch: next free row of each segment.
    private var cursor: [Int]

    public init(ranks: Int, maxLocalExperts: Int) {
        precondition(ranks > 0 && maxLocalExperts > 0, "DispatchPlan needs at least one rank and one expert")
        self.ranks = ranks
        self.maxLocalExperts = maxLocalExperts
        sendSegments = Array(repeating: 0, count: ranks * maxLocalExperts)
        cursor = sendSegments
        sendRowCounts = Array(repeating: 0, count: ranks)
        sendRowDispls = sendRowCounts
    }

    /// Plans the slots of `tokens` (all of the decisions' tokens when nil): buckets
    /// every accepted or rerouted slot by destination rank and local expert, keeping
    /// slot order within a bucket (Megatron-Core's permute order).
    public mutating func plan(_ d: RoutingDecisions, tokens range: Range<Int>? = nil) {
        let P = ranks, L = maxLocalExperts, k = d.topK, n = d.assignments
        let tokens = range ?? 0..<d.tokens
        precondition(tokens.lowerBound >= 0 && tokens.upperBound <= d.tokens, "tokens \(tokens) outside 0..<\(d.tokens)")
        let sameRange = tokens == self.tokens
        let slots = (tokens.lowerBound * k)..<(tokens.upperBound * k)
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
        if rowOfSlot.count != n {
            rowOfSlot = Array(repeating: -1, count: n)
        } else if !sameRange {
            // The slots outside the plan; those inside are all written below, and those
            // outside stay -1 for as long as the range does not change.
            for a in 0..<slots.lowerBound { rowOfSlot[a] = -1 }
            for a in slots.upperBound..<n { rowOfSlot[a] = -1 }
        }
        self.tokens = tokens
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
}

/// The receive side of a token dispatch, from the segment counts every peer sent: where
/// each peer's rows land, and the expert-major order the local experts read them in.
///
/// Shapes (P ranks, L local-expert slots):
/// - `recvSegments` [P × L]: rows received from (source rank q, local expert l);
/// - `recvRowCounts`, `recvRowDispls` [P]: rows per source and their offsets in the
///   receive buffer (source-major: rank, then local expert, then the sender's slot order);
/// - `expertRowSource` [recvRows] (storage may be longer): for the i-th row in
///   expert-major order (local expert, then source rank), its row in the receive buffer;
/// - `tokensPerExpert` [L]: rows each local expert received (DeepEP's
///   `num_recv_tokens_per_expert_list`).
public struct ReceivePlan: Sendable, Equatable {
    public let ranks: Int
    public let maxLocalExperts: Int
    public var recvSegments: [Int]
    public private(set) var recvRowCounts: [Int]
    public private(set) var recvRowDispls: [Int]
    public private(set) var expertRowSource: [Int32] = []
    public private(set) var tokensPerExpert: [Int]
    public private(set) var recvRows = 0

    public init(ranks: Int, maxLocalExperts: Int) {
        precondition(ranks > 0 && maxLocalExperts > 0, "ReceivePlan needs at least one rank and one expert")
        self.ranks = ranks
        self.maxLocalExperts = maxLocalExperts
        recvSegments = Array(repeating: 0, count: ranks * maxLocalExperts)
        recvRowCounts = Array(repeating: 0, count: ranks)
        recvRowDispls = recvRowCounts
        tokensPerExpert = Array(repeating: 0, count: maxLocalExperts)
    }

    /// Row counts and offsets per source rank from `recvSegments` (set by the segment
    /// exchange). Returns the rows to receive.
    @discardableResult
    public mutating func planRows() -> Int {
        let P = ranks, L = maxLocalExperts
        var offset = 0
        for q in 0..<P {
            recvRowDispls[q] = offset
            for l in 0..<L { offset += recvSegments[q * L + l] }
            recvRowCounts[q] = offset - recvRowDispls[q]
        }
        recvRows = offset
        return offset
    }

    /// The expert-major order of the received rows and the rows per local expert
    /// (after `planRows`).
    public mutating func planExpertOrder() {
        let P = ranks, L = maxLocalExperts
        if expertRowSource.count < recvRows { expertRowSource = Array(repeating: 0, count: recvRows) }
        var i = 0
        for l in 0..<L {
            tokensPerExpert[l] = 0
            for q in 0..<P {
                var position = recvRowDispls[q]
                for l2 in 0..<l { position += recvSegments[q * L + l2] }
                let count = recvSegments[q * L + l]
                for r in 0..<count {
                    expertRowSource[i] = Int32(position + r)
                    i += 1
                }
                tokensPerExpert[l] += count
            }
        }
    }
}
