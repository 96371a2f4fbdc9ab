/// DeepSeek's expert-parallelism load balancer (EPLB), ported from
/// github.com/deepseek-ai/EPLB `eplb.py` (commit 57919718): `balanced_packing`,
/// `replicate_experts`, `rebalance_experts_hierarchical` and `rebalance_experts`, for one
/// layer. Pure: the same (load, physical experts, groups, nodes, GPUs) give the same maps
/// on every rank.
///
/// Arithmetic is float32, as EPLB's (`weight.float()`): per-group sums, load / replica
/// count, and pack weights accumulate in float32. Where EPLB leaves ties to torch
/// (`sort(descending=True)`, `max(dim=-1)`, Python's `min`), this port takes the lower
/// index; Tests/Fixtures/eplb/cases.json holds EPLB's own output for 20 seeded loads,
/// which `EPLBTests` compares with this one.
public enum EPLB {
    /// What `rebalance` returns; arrays are indexed by physical expert (slot) or logical expert.
    public struct Result: Sendable, Equatable {
        /// [physical experts]: the logical expert in each physical slot; GPU g holds
        /// slots [g·S, (g+1)·S) with S = physical experts / GPUs (EPLB's `phy2log`).
        public var physicalToLogical: [Int]
        /// [physical experts]: which replica of its logical expert each slot is, 0-based
        /// (EPLB's `phyrank`; `log2phy[e][r]` is the slot with expert e and replica r).
        public var replicaRank: [Int]
        /// [logical experts]: replicas of each logical expert, ≥ 1 (EPLB's `logcnt`).
        public var logicalCount: [Int]
        /// Whether the hierarchical policy ran (groups divide by nodes), else the global one.
        public var hierarchical: Bool
        /// [E] the load balanced, as given.
        public var load: [Double]

        /// [gpus] each GPU's expected load: the sum over its slots of load / replicas (a
        /// replicated expert's load split evenly over its copies, as EPLB assumes).
        public func rankLoads(gpus: Int) -> [Double] {
            let per = physicalToLogical.count / gpus
            return (0..<gpus).map { g in
                physicalToLogical[(g * per)..<((g + 1) * per)].reduce(0) { $0 + load[$1] / Double(logicalCount[$1]) }
            }
        }
    }

    /// `rebalance_experts` for one layer.
    ///
    /// - Parameters:
    ///   - load: [E] measured load per logical expert (any non-negative unit: tokens,
    ///     assignments), converted to float32 as EPLB does.
    ///   - physicalExperts: E + redundant experts; a multiple of `gpus`, ≥ E.
    ///   - groups: expert groups (E divisible by it). With `groups % nodes == 0` the
    ///     hierarchical policy packs whole groups onto nodes, replicates within each node
    ///     and packs each node's replicas onto its GPUs; otherwise the global policy does
    ///     the same with one group and one node.
    ///   - nodes: server nodes; `gpus` a multiple of it.
    ///   - gpus: P, the ranks.
    /// - Precondition: the divisibility above (`ConfigValidator.checkPlacement` reports it
    ///   as a config error first).
    public static func rebalance(load: [Double], physicalExperts: Int, groups: Int, nodes: Int, gpus: Int) -> Result {
        let weight = load.map { Float($0) }
        if groups % nodes == 0 {
            var r = hierarchical(weight, physicalExperts, groups: groups, nodes: nodes, gpus: gpus, isHierarchical: true)
            r.load = load
            return r
        }
        var r = hierarchical(weight, physicalExperts, groups: 1, nodes: 1, gpus: gpus, isHierarchical: false)
        r.load = load
        return r
    }

    /// `rebalance_experts_hierarchical`: step 1 packs groups onto nodes by group load,
    /// step 2 replicates each node's experts (`replicate`), step 3 packs each node's
    /// physical experts (load / replica count) onto its GPUs.
    static func hierarchical(_ weight: [Float], _ phys: Int, groups: Int, nodes: Int, gpus: Int,
                             isHierarchical: Bool) -> Result {
        let E = weight.count
        precondition(E % groups == 0 && groups % nodes == 0 && gpus % nodes == 0 && phys % gpus == 0 && phys >= E)
        let groupSize = E / groups, groupsPerNode = groups / nodes, perGPU = phys / gpus
        let logPerNode = E / nodes, phyPerNode = phys / nodes

        // Step 1: groups to nodes.
        var groupLoad = [Float](repeating: 0, count: groups)
        for g in 0..<groups {
            for j in 0..<groupSize { groupLoad[g] += weight[g * groupSize + j] }
        }
        let (groupPack, groupRank) = balancedPacking(groupLoad, packs: nodes)
        var log2mlog = [Int](repeating: 0, count: E)
        for g in 0..<groups {
            for j in 0..<groupSize {
                log2mlog[g * groupSize + j] = (groupPack[g] * groupsPerNode + groupRank[g]) * groupSize + j
            }
        }
        let mlog2log = inverse(log2mlog)

        var phy2log = [Int](repeating: 0, count: phys)
        var replicaRank = [Int](repeating: 0, count: phys)
        var mlogCount = [Int](repeating: 0, count: E)
        for n in 0..<nodes {
            // Step 2: replicas within the node.
            let nodeLoad = (0..<logPerNode).map { weight[mlog2log[n * logPerNode + $0]] }
            let (phy2mlog, phyRank, count) = replicate(nodeLoad, physical: phyPerNode)
            for m in 0..<logPerNode { mlogCount[n * logPerNode + m] = count[m] }
            // Step 3: the node's physical experts to its GPUs.
            let phyLoad = phy2mlog.map { nodeLoad[$0] / Float(count[$0]) }
            let (pack, rankInPack) = balancedPacking(phyLoad, packs: gpus / nodes)
            let pphy2phy = inverse((0..<phyPerNode).map { pack[$0] * perGPU + rankInPack[$0] })
            for q in 0..<phyPerNode {
                let p = pphy2phy[q]
                phy2log[n * phyPerNode + q] = mlog2log[phy2mlog[p] + n * logPerNode]
                replicaRank[n * phyPerNode + q] = phyRank[p]
            }
        }
        let logicalCount = (0..<E).map { mlogCount[log2mlog[$0]] }
        return Result(physicalToLogical: phy2log, replicaRank: replicaRank, logicalCount: logicalCount,
                      hierarchical: isHierarchical, load: [])
    }

    /// `balanced_packing`: n items into `packs` packs of exactly n / packs items each;
    /// items in descending weight (ties: lower index first) each go to the lightest pack
    /// that still has room (ties: the lower pack). Returns each item's pack and its
    /// position in that pack, both [n].
    static func balancedPacking(_ weight: [Float], packs: Int) -> (pack: [Int], rankInPack: [Int]) {
        let n = weight.count
        precondition(packs > 0 && n % packs == 0)
        let perPack = n / packs
        if perPack == 1 { return (Array(0..<n), [Int](repeating: 0, count: n)) }
        let order = (0..<n).sorted { weight[$0] > weight[$1] || (weight[$0] == weight[$1] && $0 < $1) }
        var pack = [Int](repeating: -1, count: n), rankInPack = [Int](repeating: -1, count: n)
        var packWeight = [Float](repeating: 0, count: packs), packItems = [Int](repeating: 0, count: packs)
        for item in order {
            var best = -1
            for p in 0..<packs where packItems[p] < perPack {
                if best < 0 || packWeight[p] < packWeight[best] { best = p }
            }
            pack[item] = best
            rankInPack[item] = packItems[best]
            packWeight[best] += weight[item]
            packItems[best] += 1
        }
        return (pack, rankInPack)
    }

    /// `replicate_experts`: starting from one replica each, every further physical slot
    /// goes to the expert with the largest load per replica (ties: the lower index), which
    /// minimizes the largest load per replica. Returns phy2log and replica rank [physical]
    /// and the replica count per logical expert [logical].
    static func replicate(_ weight: [Float], physical: Int) -> (phy2log: [Int], rank: [Int], count: [Int]) {
        let n = weight.count
        precondition(physical >= n)
        var phy2log = Array(0..<n) + [Int](repeating: 0, count: physical - n)
        var rank = [Int](repeating: 0, count: physical)
        var count = [Int](repeating: 1, count: n)
        for i in n..<physical {
            var best = 0
            var bestValue = weight[0] / Float(count[0])
            for e in 1..<max(n, 1) {
                let v = weight[e] / Float(count[e])
                if v > bestValue { best = e; bestValue = v }
            }
            phy2log[i] = best
            rank[i] = count[best]
            count[best] += 1
        }
        return (phy2log, rank, count)
    }

    /// The inverse of a permutation of 0..<n.
    static func inverse(_ perm: [Int]) -> [Int] {
        var inv = [Int](repeating: 0, count: perm.count)
        for (i, p) in perm.enumerated() { inv[p] = i }
        return inv
    }
}
