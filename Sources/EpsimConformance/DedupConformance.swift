import EpsimCore
import EpsimRuntime

/// `dispatch.dedup: rank` on any transport and world size: the layer still equals the
/// reference, every byte it reports is accounted for by distinct (token, destination
/// rank) pairs, and its outputs equal those of `dedup: none` on the same seed.
public enum DedupConformance {
    public static let checks: [ConformanceCheck] = [
        ConformanceCheck("dedup rank: layer equals reference, top_k 1, 2, 4, drop and reroute, global scope; bytes are token-rank pairs") { t in
            for k in [1, 2, 4] {
                for policy in OverflowPolicy.allCases {
                    var c = deduplicated(t, topK: k)
                    c.overflow.policy = policy
                    c.workload = .zipf(exponent: 1.2)
                    try verify(t, c, "top_k \(k) \(policy)")
                }
            }
            var c = deduplicated(t, topK: 4)
            c.capacity.scope = .global
            c.overflow.policy = .reroute
            c.overflow.rerouteScope = .sameRank
            c.model.layers = 2
            c.model.sharedExperts = 1
            try verify(t, c, "global scope, same_rank reroute, 2 layers")
        },
        ConformanceCheck("dedup rank: every wire precision, overlap chunks 2 and 3, modeled compute") { t in
            for precision in WirePrecision.allCases {
                var c = deduplicated(t, topK: 3)
                c.precision.dispatch = precision
                c.precision.combine = precision == .fp32 ? .bf16 : precision
                try verify(t, c, "\(precision)")
                // A combine row wider than a dispatch row, first step, 2 chunks.
                c.precision.combine = .fp32
                c.warmupSteps = 0
                c.overlapChunks = 2
                try verify(t, c, "\(precision) dispatch, fp32 combine, first step, 2 chunks")
            }
            var c = deduplicated(t, topK: 4)
            c.overlapChunks = 3
            c.tokens = .perRank((0..<t.size).map { $0 == 1 ? 2 : 37 + 5 * $0 })
            c.overflow.policy = .reroute
            try verify(t, c, "3 chunks, uneven tokens")
            c.compute = .modeled(tflops: 1000, efficiency: 1)
            try verify(t, c, "3 chunks, modeled")
        },
        ConformanceCheck("dedup rank: replicated and uneven placement; several copies on one rank") { t in
            var c = deduplicated(t, topK: 4)
            c.workload = .hot(experts: [0, 5], fraction: 0.6)
            // Every rank holds a copy of experts 0 and 5: a token choosing both sends one
            // row to its own rank, fed to two local experts.
            c.placement.replicas = [.init(expert: 0, ranks: Array(0..<t.size)), .init(expert: 5, ranks: Array(0..<t.size))]
            try verify(t, c, "replicated")
            makeUneven(&c, ranks: t.size)
            try verify(t, c, "uneven")
        },
        ConformanceCheck("dedup rank and none give the same outputs and expert rows on the same seed") { t in
            for k in [2, 4] {
                var c = deduplicated(t, topK: k)
                c.model.layers = 2
                c.overflow.policy = .reroute
                c.precision.dispatch = .bf16
                let (input, deduplicated, rowsDeduplicated) = try outputs(t, c)
                c.dispatch.dedup = .none
                let (_, plain, rows) = try outputs(t, c)
                // The experts compute every assignment either way.
                if rows != rowsDeduplicated {
                    throw ConformanceFailure("rank \(t.rank) top_k \(k): experts computed \(rowsDeduplicated) rows with dedup, \(rows) without")
                }
                var difference: Float = 0, scale: Float = 0
                for i in plain.indices {
                    difference = max(difference, abs(plain[i] - deduplicated[i]))
                    scale = max(scale, abs(plain[i] - input[i]))
                }
                // Summation order differs (per rank first), so fp32 rounding, no more.
                if !(difference <= 2e-6 * scale) || scale == 0 {
                    throw ConformanceFailure("rank \(t.rank) top_k \(k): outputs differ by \(difference) (MoE output scale \(scale))")
                }
            }
        },
    ]

    /// One step of `c`: this rank's input and output rows, and the rows its experts
    /// computed as the step's accounting counts them.
    static func outputs(_ t: any Transport, _ c: SimConfig) throws -> ([Float], [Float], Int) {
        let moe = try MoERank(config: c, rank: t.rank, worldSize: t.size)
        let accounting = StepAccounting(ranks: t.size)
        moe.observers.add(accounting)
        try moe.step(0, transport: t, timer: PhaseTimer(steps: 1))
        return (moe.inputs[0].values, moe.inputs[c.model.layers].values, accounting.rowsComputed)
    }

    /// The data-plane check's small layer with `dispatch.dedup: rank`.
    static func deduplicated(_ t: any Transport, topK: Int) -> SimConfig {
        var c = DataPlaneConformance.small(t, topK: topK)
        c.dispatch.dedup = .rank
        return c
    }

    /// Runs `c` (one counted step) with --verify and checks on rank 0 that it passed and
    /// that rank r sent rank p exactly pairs(r → p) dispatch rows of (header + row)
    /// bytes and got pairs(r → p) combine rows back, where pairs(r → p) is the number of
    /// (layer, token of r) with at least one surviving slot on p, counted here from the
    /// decisions.
    static func verify(_ t: any Transport, _ c: SimConfig, _ label: String) throws {
        precondition(c.steps == 1, "the pairs are counted from the last step's decisions")
        let P = t.size
        final class Box { var pairs: [Int64] = [] }
        let box = Box()
        let result = try Simulation.execute(c, transport: t, settings: Simulation.Settings(verify: true)) { finished in
            let mine = pairs(finished.rank, ranks: P)
            box.pairs = try t.allgather(mine)
        }
        guard let result else { return }
        guard let v = result.verification, v.passed else {
            throw ConformanceFailure("\(label): \(result.verification?.summary ?? "verification did not run")")
        }
        let header = Int64(DedupHeader.bytes(topK: c.model.topK))
        let dispatchRow = header + Int64(WireCodec.bytesPerRow(c.precision.dispatch, hidden: c.model.hidden))
        let combineRow = Int64(WireCodec.bytesPerRow(c.precision.combine, hidden: c.model.hidden))
        var fewerRows = false
        for r in 0..<P {
            for p in 0..<P {
                let n = box.pairs[r * P + p]
                let sent = result.traffic.dispatch[r][p], returned = result.traffic.combine[p][r]
                if sent != n * dispatchRow || returned != n * combineRow {
                    throw ConformanceFailure("\(label): rank \(r) → \(p): \(sent) dispatch and \(returned) combine bytes for \(n) token-rank pairs")
                }
            }
            let pairs = (0..<P).reduce(Int64(0)) { $0 + box.pairs[r * P + $1] }
            let assignments = result.perRank[r].accepted + result.perRank[r].rerouted
            if pairs > assignments { throw ConformanceFailure("\(label): rank \(r) sent \(pairs) rows for \(assignments) assignments") }
            if pairs < assignments { fewerRows = true }
        }
        // With k > 1 and a rank holding more than one expert some token shares a rank.
        let shares = c.model.topK > 1 && (P == 1 || result.layout.local.contains { $0.count > 1 })
        if shares && !fewerRows { throw ConformanceFailure("\(label): no rank sent fewer rows than assignments") }
    }

    /// [P]: per destination rank, the (layer, token) pairs of this rank with a surviving
    /// slot there, in the latest step's decisions.
    static func pairs(_ moe: MoERank, ranks P: Int) -> [Int64] {
        var out = [Int64](repeating: 0, count: P)
        for d in moe.decisions {
            let k = d.topK
            for t in 0..<d.tokens {
                var seen = Set<Int32>()
                for j in 0..<k where d.destRank[t * k + j] >= 0 { seen.insert(d.destRank[t * k + j]) }
                for p in seen { out[Int(p)] += 1 }
            }
        }
        return out
    }
}
