import EpsimCore

/// The tables `epsim calibrate` prints and writes into the system file's header, and
/// where each number of the file comes from.
extension CalibrationResult {
    /// How this epsim was compiled: the expert call's activation is Swift, several
    /// times slower unoptimized, so a debug build's expert table is not the host's best.
    static var buildKind: String {
        #if DEBUG
        return "debug build (unoptimized Swift: the activation between the sgemm calls runs slower than in a "
            + "release build; calibrate with swift build -c release for the host's own figures)"
        #else
        return "release build"
        #endif
    }

    /// The title line of the all-to-allv table, OSU style.
    public static let sweepColumns =
        "    Size  Avg Latency(us)  Min Latency(us)  Max Latency(us)  Iterations    Link GB/s   Fit(us)  Fit error"

    /// A sweep as osu_alltoallv prints it (sizes in bytes per peer), with the link rate
    /// (bytes a rank sends over the link per second) and the fit beside: the dispatch's
    /// by default, the combine's with `afterExperts`. `osu`: the title line begins with
    /// "#", as osu_alltoallv's does.
    public func sweepTable(osu: Bool = false, afterExperts: Bool = false) -> [String] {
        let sweep = afterExperts ? combineSweep : dispatchSweep, fit = sweep.fit
        var lines = [osu ? "# " + Self.sweepColumns.dropFirst(2) : Self.sweepColumns]
        for (row, error) in zip(sweep.rows, sweep.errors) {
            lines.append(String(row.size).leftPadding(8)
                         + String(format3: row.average * 1e6).leftPadding(17)
                         + String(format3: row.minimum * 1e6).leftPadding(17)
                         + String(format3: row.maximum * 1e6).leftPadding(17)
                         + String(row.iterations).leftPadding(12)
                         + String(format3: Double(row.linkBytes) / row.average / 1e9).leftPadding(13)
                         + String(format3: fit.seconds(bytes: Double(row.linkBytes)) * 1e6).leftPadding(10)
                         + (String(format2: error * 100) + " %").leftPadding(11))
        }
        return lines
    }

    /// The expert table: rows, width, ms per call (average across ranks), GFLOP/s.
    public var expertTable: [String] {
        var lines = ["    rows  hidden     ffn     ms/call   device ms     GFLOP/s"]
        for row in expert {
            lines.append(String(row.rows).leftPadding(8) + String(row.hidden).leftPadding(8) + String(row.ffn).leftPadding(8)
                         + String(format3: row.seconds * 1e3).leftPadding(12)
                         + String(format3: deviceSeconds(row) * 1e3).leftPadding(12)
                         + String(format2: row.flops / deviceSeconds(row) / 1e9).leftPadding(12))
        }
        return lines
    }

    /// A sweep's fit in one line, warned of when poor.
    func fitLine(_ sweep: SweepFit, _ name: String) -> String {
        "\(name): \(sweep.summary) per rank per direction; relative error over the sweep: \(sweep.errorSummary)"
            + poorFitWarning(sweep)
    }

    /// "; WARNING: a poor fit …" when the sweep `isPoor`, else "".
    func poorFitWarning(_ sweep: SweepFit) -> String {
        sweep.isPoor
            ? "; WARNING: a poor fit (median error over \(Int(Self.poorFitError * 100)) %), as on a busy host: "
              + "calibrate again when it is quiet" : ""
    }

    /// The two sweeps, each with the name its fit line gives it.
    private var namedSweeps: [(name: String, sweep: SweepFit)] {
        [("all-to-allv fit, after the cache eviction (dispatch)", dispatchSweep), ("after the experts (combine)", combineSweep)]
    }

    /// The two fits, a line each.
    public var fitLines: [String] { namedSweeps.map { fitLine($0.sweep, $0.name) } }

    /// The fit lines of the sweeps that fit poorly (`SweepFit.isPoor`).
    public var poorFitLines: [String] { namedSweeps.filter { $0.sweep.isPoor }.map { fitLine($0.sweep, $0.name) } }

    /// The combine sweep's state in words: what ran before each call, asked and as run.
    var afterExpertsState: String {
        "\(String(format2: options.expertSeconds * 1e3)) ms of expert FFN (\(ExpertPhase.experts) experts of H "
            + "\(options.shapes[0].hidden), F \(options.shapes[0].ffn) in turn, \(ExpertPhase.rows) rows each; "
            + "\(String(format2: expertPhaseSeconds * 1e3)) ms as run, ending with the call that passes it) before each call"
    }

    /// A sweep whose median relative error from its own fit exceeds this was measured on
    /// a host whose calls did not grow with their bytes (other work took the cores): on
    /// the quiet 2-core machine this was written on the median was 2–22 % over 20
    /// calibrations, and 71 % with a test suite running beside it.
    static let poorFitError = 0.35

    /// The per-row costs in one line: each phase measured, its byte term, the rest per row.
    public var phaseRowLine: String {
        let rows = String(phaseRows)
        return "permute: \(String(format3: permuteSeconds * 1e3)) ms per step on \(phaseAssignments) assignments, \(rows) rows (bytes "
            + "\(String(format3: permuteByteSeconds * 1e3)) ms), permute_row_ns \(String(format2: permuteRowNanos)); "
            + "unpermute: \(String(format3: unpermuteSeconds * 1e3)) ms (bytes \(String(format3: unpermuteByteSeconds * 1e3)) ms), "
            + "unpermute_row_ns \(String(format2: unpermuteRowNanos))"
    }

    /// What the command prints on rank 0.
    public var text: String {
        var lines = ["# epsim calibrate: all-to-allv on \(ranks) ranks (\(transportKind)), bytes per peer, "
                     + "median of \(options.repeats) repeats"]
        lines += sweepTable(osu: true)
        lines.append(fitLines[0])
        lines.append("")
        lines.append("# the same after the experts, as a combine meets the link: \(afterExpertsState)")
        lines += sweepTable(osu: true, afterExperts: true)
        lines.append(fitLines[1])
        lines.append("")
        lines.append("expert FFN (SwiGLU, fp32 sgemm), median of \(options.repeats) repeats, average across ranks:")
        lines += expertTable
        lines.append("best sgemm rate: \(String(format2: bestFLOPS / 1e9)) GFLOP/s; fixed cost of one expert call: "
                     + "\(String(format3: launchSeconds * 1e6)) us; memcpy: \(String(format2: copyRate / 1e9)) GB/s "
                     + "(reads plus writes, \(byteText(copyBytes)) per rank)")
        lines.append("memcpy by size (copy_rates): " + copyRates.map {
            "\(byteText($0.bytes)) \(String(format2: $0.gbps)) GB/s"
        }.joined(separator: ", "))
        lines.append(phaseRowLine)
        lines.append("measured in \(String(format2: seconds)) s; epsim \(Self.buildKind)")
        lines.append(loadLine)
        return lines.joined(separator: "\n")
    }

    /// The load on the host before measuring, and a warning when other work was running:
    /// every figure here is then slow by up to the share of the cores it took.
    var loadLine: String {
        let load = host.text.map {
            $0 + " before measuring"
                + (host.isBusy ? ": WARNING: the host was busy; calibrate again when it is quiet" : " (quiet)")
        } ?? "load average: unknown"
        // The model gives each rank a device of its own; ranks sharing a core measure the
        // scheduler (4 ranks on 2 cores fitted a 1.6 ms latency here). All ranks are on
        // this host (`Calibration.check`).
        let effect = "every figure here includes that wait; calibrate with at most one rank per core"
        return load + (host.oversubscription(ranksOnHost: ranks, effect: effect).map { "; WARNING: " + $0 } ?? "")
    }

    /// The system file's header comment: when, where, how, the measured tables, and
    /// where each number comes from.
    public var header: [String] {
        let s = system
        let flops = String(format2: bestFLOPS / 1e9)
        var h = [
            "System file written by `epsim calibrate` on \(date): this host, measured.",
            "host: \(hostName); ranks: \(ranks), all on this host; transport: "
                + (library.hasPrefix(transportKind) ? library : "\(transportKind) (\(library))") + "; "
                + "\(BLAS.configuration)",
            "epsim \(EpsimVersion.string), \(Self.buildKind)",
            "options: \(options.quick ? "--quick, " : "")--repeats \(options.repeats), --max-bytes \(options.maxBytes), "
                + "--expert-ms \(options.expertSeconds * 1e3); "
                + "measuring took \(String(format2: seconds)) s",
            loadLine,
            "",
            "all-to-allv, as osu_alltoallv measures it: every rank sends Size bytes to every rank (itself",
            "included) through the run's transport (alltoallv on wire buffers, the layer's call); per size",
            "warm-up iterations, then timed ones, the call alone timed; the mean per rank,",
            "averaged across ranks (min/max: the fastest and slowest rank), median of \(options.repeats) repeats.",
            "Unlike OSU's tight loop, every iteration starts in the state a layer's dispatch meets: each rank first reads",
            "\(byteText(CalibrationBench.evictionBytes(ranks: ranks))) (the caches emptied; \(String(format2: evictionSeconds * 1e3)) "
                + "ms), then a barrier (it takes the ranks' differences),",
            "then each writes its send rows (as permute does), then the barrier before the call.",
            "Link bytes = Size x (ranks - 1), what one rank sends over the link (and receives).",
        ]
        h += sweepTable()
        h += [
            "",
            "intra_node.sweep: link bytes and Avg Latency above; the model's time for a rank's bytes over the link",
            "interpolates it, linear in bytes (the smallest message's time below its bytes).",
            "intra_node.latency_us, intra_node.gbps: the line latency + link bytes / (gbps x 1e9),",
            "fitted by least squares on the relative error to Avg Latency above: "
                + "\(s.intraNode.latencyMicros) us, \(s.intraNode.gbps) GB/s;",
            "relative error \(dispatchSweep.errorSummary)\(poorFitWarning(dispatchSweep)). The model uses gbps beyond the",
            "largest size. efficiency: 1 (the sweep and gbps are the achieved rates themselves).",
            "",
            "A second sweep, in the state a combine meets (sizes 8 x \(options.quick ? 4 : 2)^i and --max-bytes, 1 warm-up "
                + "and 10 timed",
            "iterations each): \(afterExpertsState),",
            "then a barrier, then the send rows written (as the experts write their outputs), then the barrier before",
            "the call:",
        ]
        h += sweepTable(afterExperts: true)
        h += [
            "",
            "intra_node.after_experts: this sweep, and the same fit to Avg Latency above: "
                + "\(s.intraNode.afterExperts!.latencyMicros) us, \(s.intraNode.afterExperts!.gbps) GB/s;",
            "relative error \(combineSweep.errorSummary)\(poorFitWarning(combineSweep)). The model charges a combine at it "
                + "(x efficiency), a dispatch at the link's own.",
            "inter_node: equal to intra_node; a single host has no NIC, and devices_per_node = \(ranks) puts",
            "every rank of a \(ranks)-rank run on one node, so no such run crosses it (a run of more ranks",
            "would; the sweeps' link bytes are also this rank count's). all_to_all: flat (the same reason).",
            "",
            "device.efficiency: one expert FFN (SwiGLU: x.W1, x.W3, silu(.)*(.), .W2 through ExpertCompute, the",
            "layer's code path, OpenBLAS sgemm on one thread), every rank computing at once; ms per call averaged",
            "across ranks, median of \(options.repeats) repeats; ms = device ms (the call less launch_us).",
        ]
        h += expertTable
        h += [
            "",
            "device.bf16_tflops: the best rate of the table above, \(flops) GFLOP/s (6 n H F flops per call). This",
            "host computes in fp32: it is the fp32 rate standing in for the bf16 peak. gemm_efficiency: 1 (the",
            "table gives the times; the peak is itself a measured rate).",
            "device.launch_us: one expert call on a 1 x 1 expert at n = 1 (three sgemm calls and the activation",
            "with next to no arithmetic): the fixed cost of a call, the host's counterpart of kernel launches.",
            "device.hbm_gbps: memcpy of \(byteText(copyBytes)) per rank, every rank at once, reads plus writes",
            "(2 x bytes per copy), median of \(max(3, options.repeats)) repeats, averaged across ranks.",
            "device.copy_rates: memcpy the same way at every size below (the two buffers copied back and forth,",
            "so a copy's source is in cache when both fit): the rate permute's and unpermute's bytes are charged",
            "at, by the bytes they move (a memcpy of half of them), instead of hbm_gbps.",
            "device.execution: loop (the layer runs one expert after another).",
            "device.compute_bytes: \(Self.hostComputeBytes) (this host computes in fp32).",
            "device.permute_row_ns, device.unpermute_row_ns: a run of the layer itself, every rank at once, --sync",
            "(seeded uniform routing over \(ModelConfig().experts) experts, T = \(LayerPhaseBench.tokens) tokens, "
                + "k = \(LayerPhaseBench.topK), H = \(phaseHidden), dropless, fp32 wire,",
            "\(LayerPhaseBench.warmup) warm-up steps, then the median of \(LayerPhaseBench.steps(options)) counted ones, "
                + "averaged across ranks): each phase in the state the",
            "phases before it leave the host, which an isolated micro-benchmark of the same code does not reproduce.",
            "permute = capacity decisions + dispatch preprocess + dispatch postprocess; unpermute = combine",
            "preprocess + combine postprocess; rows = the rows a rank sends (the model's rows).",
            "Less the bytes the model charges at copy_rates (on the rows sent, \(phaseRows)), per row the model charges the",
            "cost on (permute: the T k assignments; unpermute: the rows sent), at least 0",
            "(ms measured, ms of bytes, rows: ns per row):",
            "  permute:   \(permuteSeconds * 1e3) \(permuteByteSeconds * 1e3) \(phaseAssignments): \(permuteRowNanos)",
            "  unpermute: \(unpermuteSeconds * 1e3) \(unpermuteByteSeconds * 1e3) \(phaseRows): \(unpermuteRowNanos)",
        ]
        return h
    }
}
