extension MemoryEstimate {
    /// The memory `epsim estimate` takes for `c` on `ranks` ranks with `workers` threads,
    /// estimated before anything is allocated (no token rows, wire buffers or expert
    /// weights: those are what the estimate does without):
    /// - per worker: one rank's router output and decisions (as a run's rank), and with
    ///   the gating workload its inputs and their RMSNorm [T × H];
    /// - the gate matrices [L × H × E] (gating), and the trace's logits;
    /// - per rank: its totals and per-step figures (O(E + steps)), and with
    ///   `capacity.scope: global` its decision held through the rounds (its preference
    ///   [T × E] too when the policy reroutes);
    /// - the model's traffic of a step, the last one kept ([L × chunks × P × (4P + N)]
    ///   integers, twice) and the traffic matrix over steps (dispatch and combine, P × P,
    ///   accumulated and reported: three copies);
    /// - the routing dump's records of one layer, held until every rank's are formatted
    ///   (`dumpBytesPerRecord`: 0 without a dump).
    public static func forEstimate(_ c: SimConfig, layout: ExpertLayout, workers: Int, nodes: Int,
                                   dumpBytesPerRecord: Double = 0) -> MemoryEstimate {
        let m = c.model, P = Double(layout.ranks), W = Double(max(1, workers))
        let E = Double(m.experts), k = Double(m.topK), H = Double(m.hidden), L = Double(m.layers)
        let tokens = (0..<layout.ranks).map { Double(c.tokens(rank: $0, size: layout.ranks)) }
        let maxT = tokens.max() ?? 0, sumT = tokens.reduce(0, +)
        var gating = false
        if case .gating = c.workload { gating = true }
        let chunks = Double(c.overlapChunks)
        // RouterOutput (preference, logits, scores [T × E]; chosen, weights [T × k]),
        // RoutingDecisions (17 B per assignment), the decider's scratch (40 B).
        let perRankRouting = { (T: Double) in T * (E * 12 + k * 8 + k * 17) + T * k * 40 + E * 32 }
        let workerBytes = W * (perRankRouting(maxT) + (gating ? 2 * maxT * H * 4 : 0) + P * 16)
        let gate = gating ? L * H * E * 4 : 0
        var trace = 0.0
        if let (files, _) = c.workload.traceSources {
            // Each source's bytes as read, and every rank's rows of it decoded to 4-byte
            // values (at most twice the bytes, for 2-byte elements).
            trace = files.reduce(0) { $0 + 3 * MemoryEstimate.traceSourceSize($1) }
        }
        var held = 0.0
        if c.capacity.scope == .global && c.capacity.isBounded {
            let keepPreference = c.overflow.policy == .reroute
            held = tokens.reduce(0) { $0 + perRankRouting($1) - $1 * E * 12 + (keepPreference ? $1 * E * 4 : 0) }
        }
        let figures = P * (2 * E * 8 + Double(c.steps) * 15 * 8 + (3 * E + 1) * 8 + L * 16) + W * L * E * 40
        let stepTraffic = 2 * L * chunks * P * (4 * P + Double(nodes)) * 8 + L * chunks * E * 8
        let matrix = 3 * 2 * P * P * 8
        let dump = dumpBytesPerRecord * sumT * k
        func term(_ name: String, _ keys: [String], _ values: [String], _ bytes: Double) -> Term {
            Term(name: name, keys: keys, values: values, bytes: bytes)
        }
        let ranksText = String(layout.ranks)
        var terms = [
            term("router outputs and decisions (per worker)", ["workers", "tokens", "model.experts"],
                 [String(Int(W)), String(Int(maxT)), String(m.experts)], workerBytes),
            term("per-rank routing figures", ["ranks", "model.experts"], [ranksText, String(m.experts)], figures),
            term("step traffic and traffic matrix", ["ranks", "ranks"], [ranksText, ranksText], stepTraffic + matrix),
        ]
        if gating { terms.append(term("gate matrices", ["model.layers", "model.hidden", "model.experts"],
                                      [String(m.layers), String(m.hidden), String(m.experts)], gate)) }
        if trace > 0 { terms.append(term("trace logits", ["workload.file"], [""], trace)) }
        if held > 0 {
            terms.append(term("decisions held through capacity.scope global rounds", ["ranks", "tokens", "model.top_k"],
                              [ranksText, String(Int(maxT)), String(m.topK)], held))
        }
        if dump > 0 {
            terms.append(term("routing dump of one layer", ["ranks", "tokens", "model.top_k"],
                              [ranksText, String(Int(maxT)), String(m.topK)], dump))
        }
        terms.append(Term(name: "process baseline", keys: [], values: [], bytes: MemoryEstimate.baselineBytes))
        return MemoryEstimate(terms: terms, ranks: 1)
    }

    /// A estimate made of `terms` for a process of `ranks` ranks.
    init(terms: [Term], ranks: Int) {
        self.terms = terms
        self.ranks = ranks
    }
}
