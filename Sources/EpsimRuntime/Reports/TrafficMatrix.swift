/// Bytes moved between ranks over the counted steps: [src][dst], self-traffic included
/// on the diagonal (it does not leave the rank).
public struct TrafficMatrix: Sendable {
    public let ranks: Int
    public let dispatch: [[Int64]]
    public let combine: [[Int64]]
    /// dispatch + combine.
    public let bytes: [[Int64]]

    /// `gathered` is every rank's [dispatch bytes to each peer, combine bytes to each peer].
    public init(gathered: [Int64], ranks: Int) {
        self.ranks = ranks
        dispatch = (0..<ranks).map { r in Array(gathered[(r * 2 * ranks)..<(r * 2 * ranks + ranks)]) }
        combine = (0..<ranks).map { r in Array(gathered[(r * 2 * ranks + ranks)..<((r + 1) * 2 * ranks)]) }
        let (d, c) = (dispatch, combine)
        bytes = (0..<ranks).map { r in zip(d[r], c[r]).map { $0 + $1 } }
    }
    public var totalBytes: Int64 { bytes.joined().reduce(0, +) }
    /// Bytes that crossed between different ranks.
    public var offRankBytes: Int64 { totalBytes - (0..<ranks).reduce(0) { $0 + bytes[$1][$1] } }
    public var sentPerRank: [Int64] { bytes.map { $0.reduce(0, +) } }
    public var receivedPerRank: [Int64] { (0..<ranks).map { d in (0..<ranks).reduce(0) { $0 + bytes[$1][d] } } }
}
