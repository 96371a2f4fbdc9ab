import EpsimCore

/// The model against this host, end to end (docs/model.md, "This host"): with a system
/// file calibrated on plain all-to-allv sweeps and bare sgemm and memcpy (`epsim
/// calibrate`), run layouts whose traffic the calibration never saw (uniform, Zipf,
/// hot-expert and replicated routing) with `--sync`, and compare each measured phase
/// with its modeled time. Collective; the table on rank 0.
public enum HostValidation {
    /// One layout's measured and modeled phases (ms).
    public struct Row: Sendable {
        public var layout: String
        public var ranks: Int
        public var measuredMs: [ModeledPhase: Double]
        public var modeledMs: [ModeledPhase: Double]

        /// The figures the bounds apply to: dispatch + combine, expert, permute + unpermute.
        public static let parts: [(name: String, phases: [ModeledPhase])] = [
            ("dispatch+combine", [.dispatch, .combine]), ("expert", [.expert]), ("permute+unpermute", [.permute, .unpermute]),
        ]

        public func measured(_ phases: [ModeledPhase]) -> Double { phases.reduce(0) { $0 + (measuredMs[$1] ?? 0) } }
        public func modeled(_ phases: [ModeledPhase]) -> Double { phases.reduce(0) { $0 + (modeledMs[$1] ?? 0) } }
        /// (modeled − measured) / measured.
        public func error(_ phases: [ModeledPhase]) -> Double {
            let m = measured(phases)
            return m > 0 ? (modeled(phases) - m) / m : 0
        }
        /// "0.151 → 0.167 (+10.60%)": measured → modeled ms and the error, as the table
        /// prints a part.
        public func cell(_ phases: [ModeledPhase]) -> String {
            "\(String(format3: measured(phases))) → \(String(format3: modeled(phases))) (\(signedPercent(error(phases))))"
        }
    }

    /// The layouts: configs/default.yaml's shape (H 256, F 512, 8 experts top-2, 512
    /// tokens per rank) under four kinds of routing; the replicated one copies the
    /// hottest expert onto every rank.
    public static func layouts(ranks: Int, steps: Int) -> [(name: String, config: SimConfig)] {
        func base() -> SimConfig {
            var c = SimConfig()
            c.model.hidden = 256
            c.model.ffn = 512
            c.model.experts = 8
            c.model.topK = 2
            c.tokens = .uniform(512)
            c.capacity.factor = 1.25
            c.steps = steps
            c.warmupSteps = 2
            return c
        }
        var uniform = base()
        uniform.workload = .uniform
        var zipf = base()
        zipf.workload = .zipf(exponent: 1.2)
        var hot = base()
        hot.workload = .hot(experts: [0], fraction: 0.5)
        hot.capacity.factor = nil
        var replicated = zipf
        replicated.placement.replicas = [PlacementConfig.Replica(expert: 0, ranks: Array(1..<ranks))]
        return [("uniform", uniform), ("zipf 1.2", zipf), ("hot expert, dropless", hot), ("zipf, expert 0 on every rank", replicated)]
            .filter { ranks > 1 || $0.0 != "zipf, expert 0 on every rank" }
    }

    /// Counted steps per layout: 40, so that a layout's measured median holds on a shared
    /// host where single steps swing (each step takes a few milliseconds here).
    public static let defaultSteps = 40

    /// Runs every layout on `transport` with `system` (collective); the rows on rank 0.
    ///
    /// Measured: the median over ranks and counted steps, behind the `--sync` barrier (so
    /// an exchange is transfer time, not waiting). Modeled: each rank's own time, median
    /// over ranks; for dispatch and combine the slowest participant, when the all-to-all
    /// ends for everyone.
    public static func run(system: SystemSpec, transport: any Transport, steps: Int = defaultSteps) throws -> [Row]? {
        var rows: [Row] = []
        for (name, config) in layouts(ranks: transport.size, steps: steps) {
            var settings = Simulation.Settings(sync: true)
            settings.system = system
            guard let result = try Simulation.execute(config, transport: transport, settings: settings),
                  let modeled = result.modeled else { continue }
            var measured: [ModeledPhase: Double] = [:], model: [ModeledPhase: Double] = [:]
            for p in Phase.allCases {
                guard let phase = p.modeled else { continue }
                measured[phase] = result.phases[p].median * 1e3
                model[phase] = modeled.comparableMs(phase)
            }
            rows.append(Row(layout: name, ranks: transport.size, measuredMs: measured, modeledMs: model))
        }
        return transport.rank == 0 ? rows : nil
    }

    /// The table: per layout, each part measured, modeled and the error; then per part
    /// the median and largest absolute error; then each layout's dispatch and combine
    /// apart, measured → modeled ms and the error of each.
    public static func text(_ rows: [Row], system: String) -> String {
        var lines = ["this host, measured with --sync → modeled on \(system) (calibrated), ms; error = modeled / measured − 1"]
        var header = "layout".padding(32) + "ranks"
        for part in Row.parts { header += part.name.leftPadding(34) }
        lines.append(header)
        for row in rows {
            var line = row.layout.padding(32) + String(row.ranks).leftPadding(5)
            for part in Row.parts { line += row.cell(part.phases).leftPadding(34) }
            lines.append(line)
        }
        for part in Row.parts {
            let errors = rows.map { abs($0.error(part.phases)) }
            lines.append("\(part.name): median |error| \(percent(median(errors))), max \(percent(errors.max() ?? 0)) over \(rows.count) layouts")
        }
        // The two exchanges apart (not bounded on their own): each is charged at its own
        // sweep's link (a dispatch after the permute, a combine after the experts).
        let apart = rows.map { "\($0.layout) \($0.cell([.dispatch])) / \($0.cell([.combine]))" }
        lines.append("dispatch / combine apart (ms; not bounded on their own): " + apart.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }

    /// The bounds of docs/model.md: per part, the median absolute error within 15 % and
    /// none beyond 35 %.
    public static let medianBound = 0.15
    public static let maxBound = 0.35

    public static func withinBounds(_ rows: [Row]) -> Bool {
        Row.parts.allSatisfy { part in
            let errors = rows.map { abs($0.error(part.phases)) }
            return median(errors) <= medianBound && (errors.max() ?? 0) <= maxBound
        }
    }

    /// What `epsim validate-model --host` prints, on rank 0.
    public struct Report {
        public let calibration: CalibrationResult
        public let system: SystemSpec
        public let rows: [Row]

        public var withinBounds: Bool { HostValidation.withinBounds(rows) }

        public var text: String {
            let c = calibration
            return "calibrated on \(c.ranks) ranks (\(c.transportKind)), modeled on the measured all-to-allv sweeps; "
                + "their fitted lines: \(c.dispatchSweep.summary) "
                + "(median fit error \(percent(c.dispatchSweep.medianError))), after the experts \(c.combineSweep.summary) "
                + "(\(percent(c.combineSweep.medianError))); best sgemm \(String(format2: c.bestFLOPS / 1e9)) GFLOP/s;"
                + " memcpy \(String(format2: c.copyRate / 1e9)) GB/s\n"
                + ([c.loadLine] + c.poorFitLines).joined(separator: "; ") + "\n"
                + HostValidation.text(rows, system: system.name)
                + "\nbounds: median |error| ≤ \(percent(medianBound)), max ≤ \(percent(maxBound)) per part: "
                + (withinBounds ? "met" : "NOT MET")
        }
    }

    /// Calibrates this host on `transport` (`Calibration.run`), then runs the layouts on
    /// the calibrated system. Collective; the report on rank 0.
    public static func calibrateAndRun(_ transport: any Transport, calibration options: Calibration.Options,
                                       steps: Int) throws -> Report? {
        let calibration = try Calibration.run(transport, options: options)
        // Rank 0 holds the calibration (every rank's samples); every rank models with it.
        let text = try broadcast(calibration?.yaml ?? "", transport: transport)
        let system = try Launcher.agree(transport) { () throws -> SystemSpec in
            try SystemSpec.parse(yaml: text, sourcePath: "calibrated on this host")
        }
        guard let rows = try run(system: system, transport: transport, steps: steps), let calibration else { return nil }
        return Report(calibration: calibration, system: system, rows: rows)
    }

    /// Rank 0's text on every rank. Collective.
    private static func broadcast(_ text: String, transport: any Transport) throws -> String {
        let mine = transport.rank == 0 ? Array(text.utf8).map(Int64.init) : []
        let count = try transport.allreduce([Int64(mine.count)], op: .max)[0]
        var bytes = mine + Array(repeating: 0, count: Int(count) - mine.count)
        bytes = try transport.allreduce(bytes, op: .sum)
        return String(decoding: bytes.map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self)
    }
}
