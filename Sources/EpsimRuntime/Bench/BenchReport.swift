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
    /// Overhead outside the phases, as a share of step time, and its target.
    public var overheadShare: Double { result.overheadShare }
    public static let overheadTarget = 0.03

    init(result: RunResult, samples: Bench.BaselineSamples, options: Bench.Options, memory: Bench.MemoryCheck) {
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
        var rows = [
            Row(name: "dispatch+combine", layer: layer([.dispatch, .combine]), baseline: baselines[.exchange] ?? [], target: 1.10,
                baselineName: "bare all-to-allv of the same byte matrices"),
        ]
        if !result.config.compute.isModeled {
            rows.append(Row(name: "expert", layer: layer([.expert]), baseline: baselines[.sgemm] ?? [], target: 1.05,
                            baselineName: "bare sgemm of the same shapes"))
        }
        rows.append(Row(name: "permute+unpermute", layer: layer([.permute, .unpermute]), baseline: baselines[.memcpy] ?? [],
                        target: 2.0, baselineName: "memcpy of the same bytes"))
        if case .gating = result.config.workload {
            rows.append(Row(name: "route", layer: layer([.route]), baseline: baselines[.gating] ?? [], target: nil,
                            baselineName: "bare gating sgemm"))
        }
        self.rows = rows
        stageMedians = Bench.permuteStages.map { median(samples.stages[$0] ?? []) }
    }

    /// Resident memory growth over the extra steps (bytes, summed over processes).
    public var memoryGrowth: Int64 { memory.residentAfter - memory.residentBefore }
    /// Flat: grew by at most 1 MiB or 1%.
    public var memoryFlat: Bool { memoryGrowth <= max(1 << 20, memory.residentBefore / 100) }

    public var text: String {
        let env = result.environment
        var lines = [
            "epsim bench · \(result.config.sourcePath ?? "config") · \(env.transport), \(env.ranks) ranks"
                + " · layer: \(result.config.steps) counted steps after \(result.config.warmupSteps) warm-up, with --sync"
                + " · baselines: \(options.iterations) iterations after \(options.warmup) warm-up, the last step's shapes",
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
        }
        lines.append("  permute+unpermute stages within the layer's steps (median ms): " + zip(BenchReport.stageNames, stageMedians)
                     .map { "\($0) \(ms($1))" }.joined(separator: " · "))
        let share = String(format2: 100 * overheadShare) + "%"
        lines.append("step overhead".padding(21) + "\(share) of the step outside every phase".padding(61)
                     + "".padding(8) + "≤ 3.00%" + (overheadShare <= BenchReport.overheadTarget ? " ok" : " MISSED"))
        if memory.steps > 0 {
            lines.append("memory".padding(21)
                         + "resident \(byteText(memory.residentBefore)) → \(byteText(memory.residentAfter)) over \(memory.steps) more steps".padding(68)
                         + "flat" + (memoryFlat ? " ok" : " MISSED"))
        }
        lines += modeledText
        return lines.joined(separator: "\n")
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
                    ("ratio", row.ratio.map { .double($0) } ?? .null),
                    ("target", row.target.map { .double($0) } ?? .null),
                    ("met", row.met.map { .bool($0) } ?? .null),
                ])
            })),
            ("permute_stages_median_ms", .object(zip(BenchReport.stageNames, stageMedians).map {
                ($0.replacingAll(" ", with: "_"), .double($1 * 1e3))
            })),
            ("step_overhead_share", .double(overheadShare)),
            ("step_overhead_target", .double(BenchReport.overheadTarget)),
            ("memory", .object([
                ("steps", .int(memory.steps)),
                ("resident_before_bytes", .int(Int(memory.residentBefore))),
                ("resident_after_bytes", .int(Int(memory.residentAfter))),
                ("flat", .bool(memoryFlat)),
            ])),
            ("modeled", modeledJSON),
            ("result", result.json()),
        ])
    }
}
