/// Where every logical expert lives: one or more physical slots (rank, local index).
///
/// Built from `PlacementConfig` for a given world size. Capacity belongs to logical
/// experts; the layout only decides where accepted work runs.
public struct ExpertLayout: Sendable, Equatable {
    /// One physical copy of a logical expert.
    public struct Slot: Sendable, Equatable, Hashable {
        public var rank: Int
        /// Index among the experts held by `rank` (its position in `local[rank]`).
        public var localIndex: Int
    }

    public let experts: Int
    public let ranks: Int
    /// Per rank: the logical experts it holds, in local-index order.
    public let local: [[Int]]
    /// Per logical expert: its copies ordered by rank. Never empty.
    public let copies: [[Slot]]
    /// For `placement.kind: eplb`, what EPLB computed (its slots, before two slots of one
    /// expert on one rank become one copy); nil otherwise.
    public let eplb: EPLB.Result?
    /// [rank * experts + expert] -> local index on that rank, or -1.
    private let localIndexTable: [Int32]

    /// Builds the layout after `ConfigValidator.checkPlacement`, whose errors name the
    /// placement key and the value.
    public init(_ placement: PlacementConfig, experts: Int, ranks: Int) throws(ConfigError) {
        precondition(experts > 0 && ranks > 0)
        try ConfigValidator.checkPlacement(placement, experts: experts, ranks: ranks)
        var local: [[Int]]
        var eplb: EPLB.Result? = nil
        switch placement.base {
        case .contiguous: local = ExpertLayout.contiguousLists(experts: experts, ranks: ranks)
        case let .explicit(lists): local = lists
        case let .eplb(e):
            let result = ExpertLayout.rebalance(e, experts: experts, ranks: ranks)
            local = ExpertLayout.eplbLists(result, ranks: ranks)
            eplb = result
        }
        for replica in placement.replicas {
            for r in replica.ranks where !local[r].contains(replica.expert) { local[r].append(replica.expert) }
        }
        var table = [Int32](repeating: -1, count: ranks * experts)
        var copies = [[Slot]](repeating: [], count: experts)
        for r in 0..<ranks {
            for (i, e) in local[r].enumerated() {
                table[r * experts + e] = Int32(i)
                copies[e].append(Slot(rank: r, localIndex: i))
            }
        }
        precondition(!copies.contains(where: \.isEmpty), "checkPlacement lets no expert go unplaced")
        self.experts = experts
        self.ranks = ranks
        self.local = local
        self.eplb = eplb
        self.copies = copies
        self.localIndexTable = table
    }

    /// Contiguous split: rank r holds [r*E/P, (r+1)*E/P), the first E mod P ranks one more;
    /// with P > E the last P - E ranks hold none.
    public static func contiguousLists(experts: Int, ranks: Int) -> [[Int]] {
        let base = experts / ranks
        let extra = experts % ranks
        var lists: [[Int]] = []
        var next = 0
        for r in 0..<ranks {
            let n = base + (r < extra ? 1 : 0)
            lists.append(Array(next..<(next + n)))
            next += n
        }
        return lists
    }

    /// `EPLB.rebalance` with a placement's inputs at world size `ranks`: E + N slots,
    /// `ranks / ranksPerNode` nodes (one node when unset).
    public static func rebalance(_ e: EPLBPlacement, experts: Int, ranks: Int) -> EPLB.Result {
        EPLB.rebalance(load: e.load, physicalExperts: experts + e.redundantExperts, groups: e.groups,
                       nodes: ranks / (e.ranksPerNode ?? ranks), gpus: ranks)
    }

    /// EPLB's placement: rank r holds the logical experts of physical slots
    /// [r·S, (r+1)·S), S = (E + N) / P, in slot order. Two slots of one expert on one
    /// rank are one copy here (a rank runs an expert's rows once, whichever slot they
    /// name), so such a rank holds fewer than S experts.
    public static func eplbLists(_ result: EPLB.Result, ranks: Int) -> [[Int]] {
        let perRank = result.physicalToLogical.count / ranks
        return (0..<ranks).map { r in
            var list: [Int] = []
            for expert in result.physicalToLogical[(r * perRank)..<((r + 1) * perRank)] where !list.contains(expert) {
                list.append(expert)
            }
            return list
        }
    }

    /// The local index of `expert` on `rank`, or nil when that rank holds no copy.
    @inline(__always)
    public func localIndex(of expert: Int, onRank rank: Int) -> Int? {
        let i = localIndexTable[rank * experts + expert]
        return i < 0 ? nil : Int(i)
    }

    /// Whether `rank` holds a copy of `expert`.
    @inline(__always)
    public func holds(rank: Int, expert: Int) -> Bool {
        localIndexTable[rank * experts + expert] >= 0
    }

    /// The copy an assignment of `token` (a local token index on `sourceRank`) to
    /// `expert` uses: the copy on the source rank if there is one, otherwise the
    /// copies in turn by token index. Deterministic, and a function of the layout.
    @inline(__always)
    public func copy(of expert: Int, sourceRank: Int, token: Int) -> Slot {
        if let slot = fixedCopy(of: expert, sourceRank: sourceRank) { return slot }
        let list = copies[expert]
        return list[token % list.count]
    }

    /// The copy every assignment from `sourceRank` to `expert` uses when it does not
    /// depend on the token (the source rank's own copy, or the only one); nil when the
    /// copies take turns by token index (`copy(of:sourceRank:token:)`).
    @inline(__always)
    public func fixedCopy(of expert: Int, sourceRank: Int) -> Slot? {
        if let i = localIndex(of: expert, onRank: sourceRank) { return Slot(rank: sourceRank, localIndex: i) }
        let list = copies[expert]
        return list.count == 1 ? list[0] : nil
    }

    /// Whether any expert has more than one copy.
    public var isReplicated: Bool { copies.contains { $0.count > 1 } }
}
