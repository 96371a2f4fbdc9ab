/// The single-process dense reference of one MoE layer (docs/semantics.md, Verification): what
/// `--verify` compares the distributed layer with. Plain loops over every rank's tokens,
/// sums in Double, built from the other references (`ReferenceRouter`,
/// `ReferenceDecisions`, `ExpertReference`).
///
/// For the tokens x [T_r × H] of every rank r, with n = RMSNorm(x):
///
///     y = x + Σ_shared FFN_s(n) + Σ_{surviving slots j} w_j · FFN_{e_j}(n)
///
/// where a routed expert sees n as it arrives over the wire and its output comes back
/// the same way: both are rounded as the wire formats round them (`WireCodec`), so the
/// reference is the layer's function, not its format's. A dropped slot adds nothing.
///
/// Shapes: per rank, rows are [T_r × H] row-major and decisions [T_r × k]
/// (assignment a = t·k + j); arrays indexed by rank hold one entry per rank.
public enum ReferenceLayer {
    /// The experts of one layer as the reference applies them.
    public struct Experts: Sendable {
        /// [E] routed experts by logical id; empty: routed experts add nothing.
        public var routed: [ExpertWeights]
        /// The shared experts, applied to every token.
        public var shared: [ExpertWeights]

        public init(routed: [ExpertWeights], shared: [ExpertWeights]) {
            self.routed = routed
            self.shared = shared
        }

        /// The experts of `layer` as a run computes them: seeded (routed expert e is
        /// `routed(e)` when given); none at all with `compute: modeled`, which skips the
        /// arithmetic, so that the layer adds nothing to x.
        public init(config c: SimConfig, layer: Int, routed: ((Int) -> ExpertWeights)? = nil) {
            guard case .real = c.compute else {
                self.init(routed: [], shared: [])
                return
            }
            let m = c.model
            let routedExpert = routed ?? { ExpertWeights(seed: c.seed, layer: layer, expert: $0, model: m) }
            self.init(routed: (0..<m.experts).map(routedExpert),
                      shared: (0..<m.sharedExperts).map { ExpertWeights(seed: c.seed, layer: layer, shared: $0, model: m) })
        }
    }

    /// One layer's reference for every rank.
    public struct Output: Sendable {
        /// [P] the reference decisions (`ReferenceDecisions`) of each rank [T_r × k].
        public var decisions: [RoutingDecisions]
        /// [P][T_r × H] the MoE contribution y − x.
        public var moe: [[Double]]
        /// [P][T_r × H] the layer's output y = x + moe.
        public var y: [[Double]]
    }

    /// The reference of `layer` at `step` on every rank's input `x` ([P][T_r × H]):
    /// routing by `router` on RMSNorm(x), decisions over all ranks at once, then the
    /// experts. Throws `RoutingError` for a non-finite logit, as the router does.
    public static func forward(
        x: [[Float]], step: Int, layer: Int, config c: SimConfig, layout: ExpertLayout,
        router: ReferenceRouter, experts: Experts
    ) throws(RoutingError) -> Output {
        let H = c.model.hidden
        let normed = x.map { RMSNorm.apply($0, hidden: H) }
        var routed: [RouterOutput] = []
        for (r, rows) in normed.enumerated() {
            routed.append(try router.route(step: step, rank: r, layer: layer, inputs: rows))
        }
        let decisions = ReferenceDecisions.decide(config: c, layout: layout, ranks: routed.map {
            RankChoices(tokens: $0.tokens, preference: $0.preference, chosen: $0.chosen, weights: $0.weights)
        })
        let moe = (0..<x.count).map { r in
            contribution(normed: normed[r], hidden: H, decisions: decisions[r], experts: experts, precision: c.precision,
                         dedup: c.dispatch.dedup)
        }
        return Output(decisions: decisions, moe: moe, y: (0..<x.count).map { residual(x: x[$0], moe: moe[$0]) })
    }

    /// The MoE contribution [T × H] of one rank's tokens: per token, the shared experts'
    /// outputs, then each surviving slot's weight times its expert's output, summed in
    /// that order. `normed` is RMSNorm(x) [T × H]; `decisions` [T × k] name the experts
    /// and weights; `precision` gives the wire formats both ways.
    ///
    /// With `dedup: .rank` what crosses the combine wire is, per destination rank of the
    /// token (in the order of its first slot there), the weighted sum of the token's
    /// experts on that rank: the sum is rounded through the combine format once, as the
    /// layer sends it, instead of each expert's output.
    public static func contribution(normed: [Float], hidden H: Int, decisions d: RoutingDecisions,
                                    experts: Experts, precision: PrecisionConfig,
                                    dedup: DispatchDedup = .none) -> [Double] {
        let k = d.topK, T = d.tokens
        precondition(normed.count == T * H, "normed rows of \(normed.count) for \(T) tokens of \(H)")
        var moe = [Double](repeating: 0, count: T * H)
        for t in 0..<T {
            let row = normed[(t * H)..<((t + 1) * H)]
            for w in experts.shared {
                let out = ExpertReference.apply(w, token: row)
                for h in 0..<H { moe[t * H + h] += out[h] }
            }
            guard !experts.routed.isEmpty else { continue }
            let sent = precision.dispatch == .fp32 ? Array(row) : wireRoundTrip(precision.dispatch, Array(row))
            // The groups of slots that share a returned row: one per slot, or with dedup
            // one per destination rank (slots in slot order).
            var groups: [[Int]] = []
            for j in 0..<k where d.finalExpert[t * k + j] >= 0 {
                if dedup == .rank, let g = groups.firstIndex(where: { d.destRank[t * k + $0[0]] == d.destRank[t * k + j] }) {
                    groups[g].append(j)
                } else {
                    groups.append([j])
                }
            }
            for group in groups {
                var sum = [Double](repeating: 0, count: H)
                for j in group {
                    let out = ExpertReference.apply(experts.routed[Int(d.finalExpert[t * k + j])], token: sent[...])
                    let weight = Double(d.weight[t * k + j])
                    // Without dedup each expert's output is rounded, then weighted.
                    let back = dedup == .rank || precision.combine == .fp32
                        ? out : wireRoundTrip(precision.combine, out.map { Float($0) }).map { Double($0) }
                    for h in 0..<H { sum[h] += weight * back[h] }
                }
                if dedup == .rank && precision.combine != .fp32 {
                    sum = wireRoundTrip(precision.combine, sum.map { Float($0) }).map { Double($0) }
                }
                for h in 0..<H { moe[t * H + h] += sum[h] }
            }
        }
        return moe
    }

    /// y = x + moe, element by element in Double ([T × H]).
    public static func residual(x: [Float], moe: [Double]) -> [Double] {
        precondition(x.count == moe.count, "x of \(x.count), moe of \(moe.count)")
        return (0..<x.count).map { Double(x[$0]) + moe[$0] }
    }

    /// `row` encoded in wire format `p` and decoded again (`WireCodec`).
    public static func wireRoundTrip(_ p: WirePrecision, _ row: [Float]) -> [Float] {
        let H = row.count
        var bytes = [UInt8](repeating: 0, count: WireCodec.bytesPerRow(p, hidden: H))
        var back = [Float](repeating: 0, count: H)
        row.withUnsafeBufferPointer { src in
            bytes.withUnsafeMutableBytes { WireCodec.encodeRow(p, src: src.baseAddress!, hidden: H, dst: $0.baseAddress!) }
        }
        bytes.withUnsafeBytes { src in
            back.withUnsafeMutableBufferPointer { WireCodec.decodeRow(p, src: src.baseAddress!, hidden: H, dst: $0.baseAddress!) }
        }
        return back
    }
}
