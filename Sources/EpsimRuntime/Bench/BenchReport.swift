import EpsimCore

/// The result of `epsim bench` on rank 0: each measured part of the layer beside its
/// baseline, as medians over all (rank, sample) pairs, and their ratio against a target.
public struct BenchReport {
    public struct Row: Sendable {
        public var name: String
        /// Layer samples (rank × counted step) and baseline samples (rank × iteration), s.
        public var layer: [Double]
        public var baseline: [Double]
        public var target: Double?
        public var baselineName: String
        /// A second baseline shown beside the first, without a target (its name and
        /// samples): the same bare operations in another cache state.
        public var alternate: (name: String, samples: [Double])?

        public var layerMedian: Double { median(layer) }
        public var baselineMedian: Double { median(baseline) }
        public var ratio: Double? { baselineMedian > 0 ? layerMedian / baselineMedian : nil }
        public var met: Bool? { target.flatMap { t in ratio.map { $0 <= t } } }
    }

    public let result: RunResult
    public let rows: [Row]
    /// Medians over (rank, counted step) of each permute and unpermute stage as the
    /// layer ran it (seconds, summed over layers), in the order of `Bench.permuteStages`.
    public let stageMedians: [Double]
    public static var stageNames: [String] { Bench.permuteStages.map(\.description) }
    public let options: Bench.Options
    public let memory: Bench.MemoryCheck
    /// The capacity and overflow decisions: their stage's samples (rank × counted step,
    /// seconds) and the assignments each sample decided (T_r · k · layers).
    public let capacity: (samples: [Double], assignments: [Int])
    /// Target for one capacity decision, nanoseconds per assignment.
    public static let capacityTargetNs = 30.0

    /// Median over (rank, counted step) of capacity stage time per assignment, s.
    public var capacityPerAssignment: Double {
        median(zip(capacity.samples, capacity.assignments).map { $1 > 0 ? $0 / Double($1) : 0 })
    }
    public var capacityMet: Bool { capacityPerAssignment * 1e9 < BenchReport.capacityTargetNs }
    /// Overhead outside the phases, as a share of step time, and its target.
    public var overheadShare: Double { result.overheadShare }
    public static let overheadTarget = 0.03

    /// Rank 0's host before the run.
    public let host: HostLoad

    /// What the first lines warn of: more ranks than cores on the host, or a host busy
    /// with other work (load average ≥ half its cores) before the run; nil when neither.
    public var hostWarning: String? {
        let env = result.environment
        let ranksHere = env.transport == "emulated" ? env.ranks : env.ranks / max(1, env.distinctHosts.count)
        return BenchReport.hostWarning(ranksOnHost: ranksHere, host: host)
    }

    /// The warning for `ranksOnHost` ranks on `host` as it was before the run, or nil
    /// when there is none.
    public static func hostWarning(ranksOnHost: Int, host: HostLoad) -> String? {
        host.warning(ranksOnHost: ranksOnHost, effect: "the ratios measure the scheduler too")
    }

    init(result: RunResult, samples: Bench.BaselineSamples, options: Bench.Options, host: HostLoad,
         memory: Bench.MemoryCheck) {
        self.host = host
        let baselines = samples.baselines
        self.result = result
        self.options = options
        self.memory = memory
        let phases = result.phases
        func layer(_ list: [Phase]) -> [Double] {
            var out: [Double] = []
            for r in 0..<phases.ranks {
                for s in 0..<phases.steps { out.append(list.reduce(0) { $0 + phases.sample(rank: r, step: s, phase: $1) }) }
            }
            return out
        }
        // The permute and unpermute work proper: the four pre/post stages, without the
        // capacity decisions (a row of their own, per assignment).
        let moved: [Stage] = [.dispatchPreprocess, .dispatchPostprocess, .combinePreprocess, .combinePostprocess]
        let stageSamples = moved.map { samples.stages[$0] ?? [] }
        let count = stageSamples.map(\.count).min() ?? 0
        let permute = (0..<count).map { i in stageSamples.reduce(0) { $0 + $1[i] } }
        var rows = [
            Row(name: "dispatch+combine", layer: layer([.dispatch, .combine]), baseline: baselines[.exchange] ?? [], target: 1.10,
                baselineName: "bare counts exchange + bare all-to-allv of the same byte matrices, hot buffers (OSU style)",
                alternate: baselines[.exchangeAfterExperts].map { ("the same after the experts' sgemm (the layer's cache state)", $0) }),
        ]
        if !result.config.compute.isModeled {
            rows.append(Row(name: "expert", layer: layer([.expert]), baseline: baselines[.sgemm] ?? [], target: 1.05,
                            baselineName: "bare sgemm of the same shapes"))
        }
        rows.append(Row(name: "permute+unpermute", layer: permute, baseline: baselines[.memcpy] ?? [],
                        target: 3.0, baselineName: "one memcpy of the bytes the four pre/post stages write"))
        if case .gating = result.config.workload {
            rows.append(Row(name: "route", layer: layer([.route]), baseline: baselines[.gating] ?? [], target: nil,
                            baselineName: "bare gating sgemm"))
        }
        self.rows = rows
        let c = result.config, size = phases.ranks
        let perRank = (0..<size).map { c.tokens(rank: $0, size: size) * c.model.topK * c.model.layers }
        let capacitySamples = samples.stages[.capacity] ?? []
        let steps = size > 0 ? capacitySamples.count / size : 0
        capacity = (capacitySamples, (0..<capacitySamples.count).map { perRank[min(size - 1, $0 / max(1, steps))] })
        stageMedians = Bench.permuteStages.map { median(samples.stages[$0] ?? []) }
    }

    /// Resident memory growth over the extra steps (bytes, summed over processes), and
    /// over their second half alone.
    public var memoryFlat: Bool { memory.isFlat }

    public var text: String {
        let env = result.environment
        var lines = [
            "epsim bench · \(result.config.sourcePath ?? "config") · \(env.transport), \(env.ranks) ranks"
                + " · layer: \(result.config.steps) counted steps after \(result.config.warmupSteps) warm-up, with --sync"
                + " · baselines: \(options.iterations) iterations after \(options.warmup) warm-up, the last step's shapes",
        ]
        if let warning = hostWarning { lines.append(warning) }
        lines += [
            "part                 layer ms (median min max)     baseline ms (median min max)   ratio   target",
        ]
        func triple(_ v: [Double]) -> String {
            "\(ms(median(v))) \(ms(v.min() ?? 0)) \(ms(v.max() ?? 0))"
        }
        for row in rows {
            let ratio = row.ratio.map { String(format2: $0) + "×" } ?? "-"
            let target = row.target.map { "≤ " + String(format2: $0) + "×" + (row.met == true ? " ok" : " MISSED") } ?? "-"
            lines.append(row.name.padding(21) + triple(row.layer).padding(30) + triple(row.baseline).padding(31)
                         + (ratio + " ").padding(8) + target)
            lines.append("".padding(21) + "baseline: \(row.baselineName)")
            if let alternate = row.alternate, !alternate.samples.isEmpty {
                let ratio = median(alternate.samples) > 0 ? String(format2: row.layerMedian / median(alternate.samples)) + "×" : "-"
                lines.append("".padding(21) + "\(alternate.name): \(triple(alternate.samples)) ms, ratio \(ratio)")
            }
        }
        let perAssignment = capacityPerAssignment * 1e9
        lines.append("capacity decisions".padding(21) + triple(capacity.samples).padding(30)
                     + ("\(capacity.assignments.first ?? 0) assignments per rank-step, \(String(format2: perAssignment)) ns each").padding(38) + " "
                     + "< \(Int(BenchReport.capacityTargetNs)) ns" + (capacityMet ? " ok" : " MISSED"))
        lines.append("  the capacity and permute/unpermute stages within the layer's steps (median ms): " + zip(BenchReport.stageNames, stageMedians)
                     .map { "\($0) \(ms($1))" }.joined(separator: " · "))
        let share = percent(overheadShare)
        lines.append("step overhead".padding(21) + "\(share) of the step outside every phase".padding(61)
                     + "".padding(8) + "≤ 3.00%" + (overheadShare <= BenchReport.overheadTarget ? " ok" : " MISSED"))
        if memory.steps > 0 {
            lines.append("memory".padding(21)
                         + ("resident \(byteText(memory.residentBefore)) → \(byteText(memory.residentMiddle)) → "
                            + "\(byteText(memory.residentAfter)) over \(memory.steps) more steps (halves)").padding(67) + " "
                         + "flat" + (memoryFlat ? " ok" : " MISSED"))
        }
        lines += modeledText
        return lines.joined(separator: "\n")
    }

    /// `host`: the load average before the run, the cores, and the warning (or null).
    private var hostJSON: JSONValue {
        let load: JSONValue = host.loadAverage.map { .double($0) } ?? .null
        let warning: JSONValue = hostWarning.map { .string($0) } ?? .null
        return .object([("load_average", load), ("cores", .int(host.cores)), ("warning", warning)])
    }

    public var json: JSONValue {
        .object([
            ("schema", .string("epsim.bench/1")),
            ("epsim_version", .string(EpsimVersion.string)),
            ("config", ConfigLoader.resolvedJSON(result.config)),
            ("environment", result.environment.json),
            ("iterations", .int(options.iterations)),
            ("warmup_iterations", .int(options.warmup)),
            ("layer_steps", .int(result.config.steps)),
            ("host", hostJSON),
            ("parts", .array(rows.map { row in
                .object([
                    ("name", .string(row.name)),
                    ("layer_median_ms", .double(row.layerMedian * 1e3)),
                    ("layer_min_ms", .double((row.layer.min() ?? 0) * 1e3)),
                    ("layer_max_ms", .double((row.layer.max() ?? 0) * 1e3)),
                    ("layer_samples", .int(row.layer.count)),
                    ("baseline", .string(row.baselineName)),
                    ("baseline_median_ms", .double(row.baselineMedian * 1e3)),
                    ("baseline_min_ms", .double((row.baseline.min() ?? 0) * 1e3)),
                    ("baseline_max_ms", .double((row.baseline.max() ?? 0) * 1e3)),
                    ("baseline_samples", .int(row.baseline.count)),
                    ("alternate_baseline", row.alternate.map { .string($0.name) } ?? .null),
                    ("alternate_baseline_median_ms", row.alternate.map { .double(median($0.samples) * 1e3) } ?? .null),
                    ("ratio", row.ratio.map { .double($0) } ?? .null),
                    ("target", row.target.map { .double($0) } ?? .null),
                    ("met", row.met.map { .bool($0) } ?? .null),
                ])
            })),
            ("capacity", .object([
                ("layer_median_ms", .double(median(capacity.samples) * 1e3)),
                ("layer_samples", .int(capacity.samples.count)),
                ("ns_per_assignment", .double(capacityPerAssignment * 1e9)),
                ("target_ns_per_assignment", .double(BenchReport.capacityTargetNs)),
                ("met", .bool(capacityMet)),
            ])),
            ("permute_stages_median_ms", .object(zip(BenchReport.stageNames, stageMedians).map {
                ($0.replacingAll(" ", with: "_"), .double($1 * 1e3))
            })),
            ("step_overhead_share", .double(overheadShare)),
            ("step_overhead_target", .double(BenchReport.overheadTarget)),
            ("memory", .object([
                ("steps", .int(memory.steps)),
                ("resident_before_bytes", .int(Int(memory.residentBefore))),
                ("resident_middle_bytes", .int(Int(memory.residentMiddle))),
                ("resident_after_bytes", .int(Int(memory.residentAfter))),
                ("flat", .bool(memoryFlat)),
            ])),
            ("modeled", modeledJSON),
            ("result", result.json()),
        ])
    }
}
