import ArgumentParser
import EpsimCore
import EpsimRuntime

struct ValidateModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-model",
        abstract: "Print the target-system model's errors against measured and published figures.",
        discussion: """
            Without --host: the H200 expert, route, permute and unpermute times (docs/model-data) \
            and DeepEP's published normal-kernel bandwidths, each modeled on its system file \
            (configs/systems), with every row's error and the table's median and largest error \
            against its bound. With --host: calibrates this host as `epsim calibrate` does (an \
            all-to-allv sweep with the caches emptied before each call and one after expert FFN, \
            sgemm, memcpy by size and a short uniform run of the layer), then runs uniform, Zipf, hot-expert and \
            replicated layouts with --sync and prints each measured phase beside its modeled time. \
            Exits 1 when a table's median error is beyond its bound (with --host: when a part's \
            median or largest error is). See docs/model.md.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The ground-truth data directory.", valueName: "dir"))
    var data = "docs/model-data"

    @Option(name: .long, help: ArgumentHelp("The directory of the system files the data is modeled on.",
                                            valueName: "dir"))
    var systems = "configs/systems"

    @Flag(name: .long, help: "Validate against this host instead (calibrate, then run layouts; under mpirun or --emulate).")
    var host = false

    @Option(name: .long, help: ArgumentHelp("With --host: run N ranks as threads of this process.", valueName: "N"))
    var emulate: Int?

    @Option(name: .long, help: ArgumentHelp("With --host: counted steps per layout (default \(HostValidation.defaultSteps)).",
                                            valueName: "n"))
    var steps: Int?

    @Flag(name: .long, help: "With --host: calibrate with fewer sizes and repeats (still real measurements).")
    var quick = false

    func validate() throws {
        if !host {
            let option = emulate != nil ? "--emulate" : quick ? "--quick" : steps != nil ? "--steps" : nil
            if let option {
                throw ValidationError("\(option): only with --host (the published tables run no ranks)")
            }
        }
        try checkTransportOptions(emulate: emulate, overrides: [])
        if host && emulate == 1 {
            throw ValidationError("--emulate: the host validation measures all-to-allv between ranks and needs at least 2, got 1")
        }
        if let steps, !(1...1000).contains(steps) { throw ValidationError("--steps: expected 1...1000, got \(steps)") }
    }

    func run() throws {
        if host { return try runHost() }
        let tables: [ValidationTable]
        do {
            tables = try ModelValidation.all(dataDirectory: data, systemsDirectory: systems)
        } catch {
            // The defaults are the checkout's own directories, relative to where it runs.
            let hint = data == "docs/model-data" && systems == "configs/systems"
                ? " (run from the epsim checkout, or give --data and --systems)" : ""
            Launcher.printError("\(error)" + hint)
            throw ExitCode(1)
        }
        print(ModelValidationText.text(tables))
        if tables.contains(where: { $0.medianError > $0.bound }) { throw ExitCode(1) }
    }

    private func runHost() throws {
        let options = Calibration.Options(quick: quick)
        let steps = steps ?? HostValidation.defaultSteps
        let code = Launcher.run(emulate.map { .emulated(ranks: $0) } ?? .mpi, timeout: 0) { transport in
            guard let report = try HostValidation.calibrateAndRun(transport, calibration: options, steps: steps) else { return }
            print(report.text)
            // After every collective: only rank 0 holds the report.
            if !report.withinBounds { throw ReportedFailure() }
        }
        if code != 0 { throw ExitCode(code) }
    }
}
