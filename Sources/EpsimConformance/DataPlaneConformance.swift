import EpsimCore
import EpsimRuntime

/// The whole distributed layer (routing, dispatch, experts, combine) against the
/// single-process reference, run collectively on any transport and world size.
public enum DataPlaneConformance {
    /// A small layer that verifies in well under a second even in a debug build.
    static func small(_ t: any Transport, topK: Int = 2) -> SimConfig {
        var c = SimConfig()
        c.model.hidden = 32
        c.model.ffn = 48
        c.model.experts = 8
        c.model.topK = topK
        c.tokens = .perRank((0..<t.size).map { 40 + 9 * ($0 % 3) })
        c.steps = 1
        c.warmupSteps = 1
        c.capacity.factor = 1.0
        c.seed = 42
        return c
    }

    public static let checks: [ConformanceCheck] = [
        ConformanceCheck("layer equals reference: top_k 1, 2, 4 with drop and reroute") { t in
            for k in [1, 2, 4] {
                for policy in OverflowPolicy.allCases {
                    var c = small(t, topK: k)
                    c.overflow.policy = policy
                    c.workload = .zipf(exponent: 1.2)
                    try verify(t, c, "top_k \(k) \(policy)")
                }
            }
        },
        ConformanceCheck("layer equals reference: gating router, 2 layers, shared experts, GELU") { t in
            var c = small(t)
            c.model.layers = 2
            c.model.sharedExperts = 1
            try verify(t, c, "swiglu")
            c.model.activation = .gelu
            c.overflow.policy = .reroute
            try verify(t, c, "gelu")
        },
        ConformanceCheck("layer equals reference: replicated and uneven placement, uneven tokens") { t in
            var c = small(t)
            c.workload = .hot(experts: [0], fraction: 0.5)
            c.placement.replicas = [.init(expert: 0, ranks: Array(0..<t.size))]
            try verify(t, c, "replicated")
            makeUneven(&c, ranks: t.size)
            try verify(t, c, "uneven")
        },
        ConformanceCheck("layer equals reference at every wire precision; bytes match the format") { t in
            for precision in WirePrecision.allCases {
                var c = small(t)
                c.precision.dispatch = precision
                c.precision.combine = precision == .fp32 ? .bf16 : precision
                try verify(t, c, "\(precision)")
                // A combine row wider than a dispatch row, on the very first step (no
                // warm-up has sized the buffers yet), with and without overlap.
                c.precision.combine = .fp32
                c.warmupSteps = 0
                try verify(t, c, "\(precision) dispatch, fp32 combine, first step")
                c.overlapChunks = 2
                try verify(t, c, "\(precision) dispatch, fp32 combine, first step, 2 chunks")
            }
        },
        ConformanceCheck("layer equals reference with overlap.chunks 2, 3 and 4") { t in
            // Chunks split each rank's tokens; a rank with fewer tokens than chunks has
            // empty chunks. Shared experts, reroute and two layers run through the
            // pipeline too; modeled compute keeps only the routing.
            for chunks in [2, 3, 4] {
                var c = small(t)
                c.overlapChunks = chunks
                c.model.layers = 2
                c.model.sharedExperts = 1
                c.overflow.policy = .reroute
                c.workload = .zipf(exponent: 1.1)
                c.tokens = .perRank((0..<t.size).map { $0 == 1 ? 2 : 37 + 5 * $0 })
                try verify(t, c, "chunks \(chunks)")
                c.compute = .modeled(tflops: 1000, efficiency: 1)
                try verify(t, c, "chunks \(chunks), modeled")
            }
        },
        ConformanceCheck("contiguous and replicated placements give the same outputs") { t in
            // Decisions are bitwise identical (RoutingConformance); outputs agree to fp32
            // rounding: sgemm's blocking depends on how many rows an expert receives, so
            // the last bit of an expert output may differ between layouts.
            var c = small(t)
            c.workload = .zipf(exponent: 1.0)
            let (input, plain) = try outputs(t, c)
            c.placement.replicas = [.init(expert: 0, ranks: Array(0..<t.size)), .init(expert: 3, ranks: [0])]
            let (_, replicated) = try outputs(t, c)
            var difference: Float = 0, scale: Float = 0
            for i in plain.indices {
                difference = max(difference, abs(plain[i] - replicated[i]))
                scale = max(scale, abs(plain[i] - input[i]))
            }
            if !(difference <= 1e-6 * scale) || scale == 0 {
                throw ConformanceFailure("rank \(t.rank): outputs differ by \(difference) (MoE output scale \(scale))")
            }
        },
    ]

    /// Runs `c` with --verify, then checks on rank 0 that verification passed and that
    /// the bytes each rank sent are its accepted rows times the wire format's row size.
    static func verify(_ t: any Transport, _ c: SimConfig, _ label: String) throws {
        guard let result = try Simulation.execute(c, transport: t, verify: true) else { return }
        guard let v = result.verification, v.passed else {
            throw ConformanceFailure("\(label): \(result.verification?.summary ?? "verification did not run")")
        }
        let dispatchRow = Int64(WireCodec.bytesPerRow(c.precision.dispatch, hidden: c.model.hidden))
        let combineRow = Int64(WireCodec.bytesPerRow(c.precision.combine, hidden: c.model.hidden))
        var total: Int64 = 0
        for r in 0..<t.size {
            let rows = result.perRank[r].accepted + result.perRank[r].rerouted
            let sent = result.traffic.dispatch[r].reduce(0, +)
            let returned = (0..<t.size).reduce(Int64(0)) { $0 + result.traffic.combine[$1][r] }
            if sent != rows * dispatchRow || returned != rows * combineRow {
                throw ConformanceFailure("\(label): rank \(r) sent \(sent) and got back \(returned) bytes for \(rows) rows")
            }
            total += rows * (dispatchRow + combineRow)
        }
        if result.traffic.totalBytes != total || result.traffic.sentPerRank.reduce(0, +) != total {
            throw ConformanceFailure("\(label): traffic matrix sums to \(result.traffic.totalBytes), rows give \(total)")
        }
    }

    /// One step of `c`; this rank's input and output rows.
    static func outputs(_ t: any Transport, _ c: SimConfig) throws -> ([Float], [Float]) {
        let moe = try MoERank(config: c, rank: t.rank, worldSize: t.size)
        try moe.step(0, transport: t, timer: PhaseTimer(steps: 1))
        return (moe.inputs[0].values, moe.inputs[c.model.layers].values)
    }
}
