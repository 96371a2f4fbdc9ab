import EpsimCore

/// Everything `TokenDispatcher.combine` needs to send expert outputs back to the
/// (rank, token, slot) they came from: DeepEP's handle, made by `dispatch`.
///
/// Shapes (P ranks, L = the most experts any rank holds, n = T × k slots on this rank):
/// - `sendSegments` [P × L]: rows this rank sends to (destination rank p, local expert l);
/// - `recvSegments` [P × L]: rows this rank receives from (source rank q, local expert l);
/// - `sendSlot` [sendRows]: the slot a = t·k + j carried by send row i; rows are ordered
///   by destination rank, then local expert, then slot;
/// - `rowOfSlot` [n]: the send row of slot a, or -1 if the slot was dropped;
/// - `expertRowSource` [recvRows]: for the i-th row in expert-major order (local expert,
///   then source rank), its position in the received (source-major) buffer;
/// - `tokensPerExpert` [L]: rows each local expert received (entries past this rank's
///   own expert count are 0).
/// Buffers are owned by the handle and reused from step to step.
public final class DispatchHandle {
    public let ranks: Int
    public let maxLocalExperts: Int
    public internal(set) var sendSegments: [Int]
    public internal(set) var recvSegments: [Int]
    public internal(set) var sendSlot: [Int32] = []
    public internal(set) var rowOfSlot: [Int32] = []
    public internal(set) var expertRowSource: [Int32] = []
    public internal(set) var tokensPerExpert: [Int]
    /// Rows per peer and their offsets, in rows: [P] each.
    public internal(set) var sendRowCounts: [Int]
    public internal(set) var sendRowDispls: [Int]
    public internal(set) var recvRowCounts: [Int]
    public internal(set) var recvRowDispls: [Int]
    public internal(set) var sendRows = 0
    public internal(set) var recvRows = 0
    /// Per-peer byte counts and offsets of the latest payload exchange started with
    /// this handle (dispatch, then combine): [P] each. `sendBytes` is what this rank
    /// sent to each peer, self included.
    public internal(set) var sendBytes: [Int]
    public internal(set) var sendByteDispls: [Int]
    public internal(set) var recvBytes: [Int]
    public internal(set) var recvByteDispls: [Int]
    /// Segment-count exchange: L entries per peer.
    let segmentCounts: [Int]
    let segmentDispls: [Int]

    init(ranks: Int, maxLocalExperts: Int) {
        self.ranks = ranks
        self.maxLocalExperts = maxLocalExperts
        let zeros = [Int](repeating: 0, count: ranks)
        sendSegments = Array(repeating: 0, count: ranks * maxLocalExperts)
        recvSegments = sendSegments
        tokensPerExpert = Array(repeating: 0, count: maxLocalExperts)
        sendRowCounts = zeros
        sendRowDispls = zeros
        recvRowCounts = zeros
        recvRowDispls = zeros
        sendBytes = zeros
        sendByteDispls = zeros
        recvBytes = zeros
        recvByteDispls = zeros
        segmentCounts = Array(repeating: maxLocalExperts, count: ranks)
        segmentDispls = (0..<ranks).map { $0 * maxLocalExperts }
    }
}
