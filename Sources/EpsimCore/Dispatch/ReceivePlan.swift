/// The receive side of a token dispatch, from the segment counts every peer sent: where
/// each peer's rows land, and the expert-major order the local experts read them in.
///
/// Shapes (P ranks, L local-expert slots, W = `segmentWidth`, k = top-k):
/// - `recvSegments` [P × W]: assignments received from (source rank q, local expert l)
///   for l < L; with dedup, entry L is the rows q sent (see `DispatchPlan.sendSegments`);
/// - `recvRowCounts`, `recvRowDispls` [P]: rows per source and their offsets in the
///   receive buffer (source-major: rank, then the sender's row order);
/// - `expertRowSource` [expertRows] (storage may be longer): for the i-th row in
///   expert-major order (local expert, then source rank, then arrival), its row in the
///   receive buffer; with dedup a received row appears once per local expert it feeds;
/// - `tokensPerExpert` [L]: rows each local expert computes (DeepEP's
///   `num_recv_tokens_per_expert_list`); `expertRows` is their sum (= `recvRows`
///   without dedup);
/// - with dedup, `recvExpertRow` and `recvWeight` [recvRows × k]: for entry j of
///   received row i's header, its row in expert-major order (-1 for an empty entry)
///   and its weight, read from the headers by `planExpertOrder(headers:rowStride:topK:)`.
public struct ReceivePlan: Sendable, Equatable {
    public let ranks: Int
    public let maxLocalExperts: Int
    public let dedup: DispatchDedup
    public let segmentWidth: Int
    public var recvSegments: [Int]
    public private(set) var recvRowCounts: [Int]
    public private(set) var recvRowDispls: [Int]
    public private(set) var expertRowSource: [Int32] = []
    public private(set) var tokensPerExpert: [Int]
    public private(set) var recvRows = 0
    public private(set) var expertRows = 0
    public private(set) var recvExpertRow: [Int32] = []
    public private(set) var recvWeight: [Float] = []
    /// Scratch: next expert-major row of each local expert, and the end of its block.
    private var cursor: [Int]
    private var blockEnd: [Int]

    public init(ranks: Int, maxLocalExperts: Int, dedup: DispatchDedup = .none) {
        precondition(ranks > 0 && maxLocalExperts > 0, "ReceivePlan needs at least one rank and one expert")
        self.ranks = ranks
        self.maxLocalExperts = maxLocalExperts
        self.dedup = dedup
        segmentWidth = dedup == .rank ? maxLocalExperts + 1 : maxLocalExperts
        recvSegments = Array(repeating: 0, count: ranks * segmentWidth)
        recvRowCounts = Array(repeating: 0, count: ranks)
        recvRowDispls = recvRowCounts
        tokensPerExpert = Array(repeating: 0, count: maxLocalExperts)
        cursor = tokensPerExpert
        blockEnd = tokensPerExpert
    }

    /// Row counts and offsets per source rank, and the rows per local expert, from
    /// `recvSegments` (set by the segment exchange). Returns the rows to receive.
    @discardableResult
    public mutating func planRows() -> Int {
        let P = ranks, L = maxLocalExperts, W = segmentWidth
        for l in 0..<L { tokensPerExpert[l] = 0 }
        var offset = 0, assignments = 0
        for q in 0..<P {
            recvRowDispls[q] = offset
            var sum = 0
            for l in 0..<L {
                sum += recvSegments[q * W + l]
                tokensPerExpert[l] += recvSegments[q * W + l]
            }
            assignments += sum
            offset += dedup == .rank ? recvSegments[q * W + L] : sum
            recvRowCounts[q] = offset - recvRowDispls[q]
        }
        recvRows = offset
        expertRows = assignments
        return offset
    }

    /// The expert-major order of the received rows (after `planRows`), without dedup:
    /// the counts say it all.
    public mutating func planExpertOrder() {
        precondition(dedup == .none, "ReceivePlan: with dedup the order comes from the row headers")
        let P = ranks, L = maxLocalExperts
        if expertRowSource.count < recvRows { expertRowSource = Array(repeating: 0, count: recvRows) }
        var i = 0
        for l in 0..<L {
            for q in 0..<P {
                var position = recvRowDispls[q]
                for l2 in 0..<l { position += recvSegments[q * L + l2] }
                let count = recvSegments[q * L + l]
                for r in 0..<count {
                    expertRowSource[i] = Int32(position + r)
                    i += 1
                }
            }
        }
    }

    /// With dedup: the expert-major order from the received rows' headers (`DedupHeader`
    /// at the start of each row of `rowStride` bytes in `headers`), after `planRows`.
    /// Each header entry naming local expert l puts the row in l's block, in arrival
    /// order; the entries per expert must add up to what the counts announced (a
    /// mismatch is a broken wire and traps).
    public mutating func planExpertOrder(headers: UnsafeRawBufferPointer, rowStride: Int, topK k: Int) {
        precondition(dedup == .rank, "ReceivePlan: without dedup the order comes from the counts")
        let L = maxLocalExperts, n = recvRows
        precondition(headers.count >= n * rowStride && rowStride >= DedupHeader.bytes(topK: k),
                     "ReceivePlan: \(headers.count) header bytes for \(n) rows of \(rowStride)")
        if expertRowSource.count < expertRows { expertRowSource = Array(repeating: 0, count: expertRows) }
        if recvExpertRow.count < n * k {
            recvExpertRow = Array(repeating: -1, count: n * k)
            recvWeight = Array(repeating: 0, count: n * k)
        }
        var offset = 0
        for l in 0..<L {
            cursor[l] = offset
            offset += tokensPerExpert[l]
            blockEnd[l] = offset
        }
        for i in 0..<n {
            let header = headers.baseAddress! + i * rowStride
            for j in 0..<k {
                let (local, weight) = DedupHeader.entry(j, topK: k, at: header)
                recvWeight[i * k + j] = weight
                guard local >= 0 else {
                    recvExpertRow[i * k + j] = -1
                    continue
                }
                let l = Int(local)
                precondition(l < L && cursor[l] < blockEnd[l],
                             "ReceivePlan: row \(i) names local expert \(l) beyond the rows the counts announced")
                let row = cursor[l]
                cursor[l] += 1
                expertRowSource[row] = Int32(i)
                recvExpertRow[i * k + j] = Int32(row)
            }
        }
        for l in 0..<L {
            precondition(cursor[l] == blockEnd[l], "ReceivePlan: local expert \(l) got \(tokensPerExpert[l] - (blockEnd[l] - cursor[l])) rows, the counts announced \(tokensPerExpert[l])")
        }
    }
}
