import EpsimCore
import EpsimRuntime

/// Many seeded layouts run end to end on any transport and world size: each must
/// finish (every rank calls the same collectives, whatever its own counts) and pass
/// `--verify` with accounting that closes.
///
/// The layouts are the kinds that once made ranks disagree on which collective to call:
/// reroute (extra rounds), global capacity scope (demand/grant rounds), uneven tokens
/// with zero tokens on some ranks, replicas, overlap chunks. The generator is seeded, so
/// a failure names a layout that can be run again.
public enum SeededLayoutConformance {
    /// Layouts per world size in the check.
    public static let count = 24

    public static let checks: [ConformanceCheck] = [
        ConformanceCheck("\(count) seeded layouts (reroute, global scope, zero tokens, replicas) finish and verify") { t in
            for index in 0..<count {
                let c = layout(index, ranks: t.size)
                try DataPlaneConformance.verify(t, c, "seeded layout \(index) (\(describe(c)))")
            }
        },
    ]

    /// Layout number `index` for `ranks` ranks: small widths, random everything else.
    public static func layout(_ index: Int, ranks: Int) -> SimConfig {
        var random = SeededRandom(seed: 0x5EED_0000 + UInt64(index))
        func pick<T>(_ options: [T]) -> T { options[Int(random.next() % UInt64(options.count))] }
        var c = SimConfig()
        c.seed = UInt64(index + 1)
        c.model.hidden = pick([8, 16, 24])
        c.model.ffn = pick([8, 16])
        c.model.experts = pick([2, 3, 4, 6, 8, 12])
        c.model.topK = min(c.model.experts, pick([1, 2, 2, 3, 4]))
        c.model.sharedExperts = pick([0, 0, 1])
        c.model.layers = pick([1, 1, 2])
        // Uneven tokens, zero on some ranks (on every rank now and then).
        let zeroEverywhere = index % 11 == 10
        c.tokens = .perRank((0..<ranks).map { r in
            zeroEverywhere ? 0 : (r + index) % 3 == 0 ? 0 : Int(random.next() % 40)
        })
        c.workload = pick([.uniform, .gating, .zipf(exponent: 1.3), .hot(experts: [0], fraction: 0.7)])
        c.capacity.factor = pick([0.5, 0.8, 1.0, 1.25, 2.0, nil])
        c.capacity.scope = pick(CapacityScope.allCases)
        c.capacity.priority = pick(Priority.allCases)
        c.capacity.minCapacity = pick([0, 0, 2])
        c.overflow.policy = index % 2 == 0 ? .reroute : pick(OverflowPolicy.allCases)
        c.overflow.rerouteScope = pick(RerouteScope.allCases)
        c.overflow.maxReroutes = pick([nil, 1, 2])
        c.overflow.renormalize = pick([false, true])
        if pick([false, true]) {
            // Hot expert 0 on every rank, another expert on rank 0 too.
            c.placement.replicas = [.init(expert: 0, ranks: Array(0..<ranks)),
                                    .init(expert: c.model.experts - 1, ranks: [0])]
        }
        c.overlapChunks = pick([1, 1, 2, 3])
        c.precision.dispatch = pick(WirePrecision.allCases)
        // Issue 16's options (drawn last, so the layouts above are unchanged): the
        // reference implements each on its own.
        c.capacity.rounding = pick(CapacityRounding.allCases)
        c.overflow.renormalizeEpsilon = pick([0, 0, Double(Float.ulpOfOne), 0.05])
        c.router.firstChoice = pick(FirstChoice.allCases)
        if pick([false, false, true]) { c.capacity.value = pick([0, 1, 3, 7]) }
        c.steps = 2
        c.warmupSteps = 1
        return c
    }

    /// One line naming what a layout exercises.
    static func describe(_ c: SimConfig) -> String {
        let factor = c.capacity.value.map { "C \($0)" } ?? c.capacity.factor.map { "cf \($0) \(c.capacity.rounding.rawValue)" } ?? "dropless"
        return "E \(c.model.experts) top-\(c.model.topK) \(c.workload.name) \(factor) \(c.capacity.scope.rawValue) "
            + "\(c.capacity.priority.rawValue) \(c.overflow.policy.rawValue) tokens \(c.tokens) "
            + "replicas \(c.placement.replicas.count) chunks \(c.overlapChunks) layers \(c.model.layers)"
    }
}
