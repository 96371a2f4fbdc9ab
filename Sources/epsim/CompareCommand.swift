import ArgumentParser
import EpsimCore
import EpsimRuntime

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare layouts side by side: run each config, or read result files.",
        discussion: """
            Each FILE is a config (run now, on this transport, with --set applied) or a result \
            file written by `epsim run --output` (schema epsim.result/1). Ratios are to the first. \
            With --repeat N each config runs N times: each measured time is the median with its \
            range [min–max], and a ratio whose ranges overlap is marked ~ (within the noise). \
            With --system the modeled times (deterministic) lead.
            """
    )

    @Argument(help: ArgumentHelp("Configs (YAML) or result files (JSON), two or more.", valueName: "file"))
    var files: [String]

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a key of every config, e.g. --set steps=5 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(name: .long, help: ArgumentHelp("Run N ranks as threads of this process.", valueName: "N"))
    var emulate: Int?

    @Flag(name: .long, help: "Barrier before each communication phase (see `epsim run --sync`).")
    var sync = false

    @OptionGroup var watchdog: WatchdogOptions
    @OptionGroup var repeats: RepeatOptions

    @Flag(name: .long, help: "Check each config's last counted step against the single-process reference (see `epsim run --verify`).")
    var verify = false

    @Option(name: .long, help: ArgumentHelp(
        "Compare times modeled on this target system (YAML) instead of this host's; result files must carry them.",
        valueName: "file"))
    var system: String?

    @Option(name: .long, help: ArgumentHelp("Write the comparison as JSON (schema epsim.compare/1).", valueName: "file"))
    var output: String?

    @Option(name: .long, help: ArgumentHelp(
        "Draw phase times, drop rates, per-rank load and traffic matrices (one colour scale) as an SVG image.",
        valueName: "file"))
    var svg: String?

    func validate() throws {
        if files.count < 2 { throw ValidationError("compare: expected two or more files, got \(files.count)") }
        try checkTransportOptions(emulate: emulate, overrides: overrides)
        try checkOutputs([("--output", output), ("--svg", svg)],
                         inputs: files.map { ("FILE", $0) } + (system.map { [("--system", $0)] } ?? []))
    }

    func run() throws {
        let files = files, overrides = overrides, sync = sync, output = output, svg = svg, systemPath = system
        let repeatCount = repeats.count, verify = verify
        let code = Launcher.run(emulate.map { .emulated(ranks: $0) } ?? .mpi, timeout: watchdog.timeout) { transport in
            // Read before anything of ours runs: our own ranks would count as load.
            let host = transport.rank == 0 ? HostLoad.current() : nil
            var summaries: [LayoutSummary] = []
            let names = ComparisonTable.columnNames(files)
            // Which files are results is decided on rank 0 and shared, so every rank makes
            // the same collective calls even where only rank 0 can read a result file.
            let mine = files.map { Int64(transport.rank == 0 && LayoutSummary.isResultFile($0) ? 1 : 0) }
            let isResult = try transport.allreduce(mine, op: .max).map { $0 == 1 }
            // Every input and output is checked before the first layout runs, on every rank
            // at once: a bad last file costs a line, not the runs before it.
            for (file, result) in zip(files, isResult) where !result {
                _ = try Simulation.loadConfig(file, overrides: overrides, transport: transport)
            }
            let system = try systemPath.map {
                try Simulation.loadSystem($0, transport: transport, forRun: isResult.contains(false))
            }
            let (readResults, outputs) = try Launcher.agree(transport) {
                () throws -> ([Int: LayoutSummary], [AtomicFile.Writer?]) in
                guard transport.rank == 0 else { return ([:], []) }
                var read: [Int: LayoutSummary] = [:]
                for (i, (file, name)) in zip(files, names).enumerated() where isResult[i] {
                    read[i] = try LayoutSummary(resultFile: file, name: name, modeledOn: system)
                }
                return (read, try [output, svg].map { try $0.map { try AtomicFile.Writer(path: $0) } })
            }
            let runs = isResult.filter { !$0 }.count * repeatCount
            if let warning = host?.measuredTimesWarning(ranksOnHost: HostLoad.ranksOnFirstHost(transport),
                                                        modeled: systemPath != nil), runs > 0 {
                print(warning)
            }
            let progress = transport.rank == 0 && runs > 0 ? ProgressLine(total: runs, unit: "run", label: "compare") : nil
            for (i, (file, name)) in zip(files, names).enumerated() {
                if let summary = readResults[i] {
                    summaries.append(summary)
                    continue
                }
                if isResult[i] { continue }
                let options = RunOptions(configPath: file, overrides: overrides, verify: verify, sync: sync, report: false,
                                         system: systemPath)
                let results = try Simulation.runRepeated(options, count: repeatCount, transport: transport,
                                                         progress: progress)
                if !results.isEmpty { summaries.append(LayoutSummary(name: name, results: results)) }
            }
            progress?.finish()
            guard transport.rank == 0 else { return }
            print(ComparisonTable.text(summaries))
            try outputs[0]?.commit(ComparisonTable.json(summaries).serialized() + "\n")
            try outputs[1]?.commit(ComparisonTable.chart(summaries, title: system.map { "epsim compare · modeled on \($0.name)" } ?? "epsim compare").svg())
        }
        if code != 0 { throw ExitCode(code) }
    }
}
