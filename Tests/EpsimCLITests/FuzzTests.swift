import Foundation
import XCTest

/// Seeded fuzzing of `epsim run`: every generated input either stops with one line
/// (`epsim: error:` naming the key or file; no crash, no backtrace, no leftover
/// temporary file; printed once under mpirun, every rank exiting) or runs to the end
/// with `--verify` passing, a finite error, closed accounting and a readable routing dump.
///
/// Run by hand (the counts are printed, e.g. `fuzz: 1824 configs: 1201 one-line errors,
/// 623 verified runs, 0 failures`):
///
///     swift build --build-tests && swift test --skip-build --filter Fuzz
///     EPSIM_FUZZ_CASES=5000 EPSIM_FUZZ_MPI_CASES=100 swift test --skip-build --filter Fuzz
///
/// Environment: EPSIM_FUZZ_SEED (default 20261129), EPSIM_FUZZ_CASES (generated configs;
/// default: every mutation once, about 1800), EPSIM_FUZZ_MPI_CASES (the sample run under mpirun, default 20),
/// EPSIM_FUZZ_ONLY=3,17 (only these case indices, to reproduce a failure),
/// EPSIM_FUZZ_JOBS (runs at a time, default 2), EPSIM_FUZZ_TIMEOUT (seconds, default 60),
/// EPSIM_FUZZ_MEMORY_KB (ulimit -v, default 2 GiB), EPSIM_FUZZ_KEEP=1 (keep the case folders),
/// EPSIM_FUZZ_VERBOSE=1 (print every case's verdict).
final class FuzzTests: XCTestCase {
    static let env = ProcessInfo.processInfo.environment
    static let seed = UInt64(env["EPSIM_FUZZ_SEED"] ?? "") ?? 20_261_129
    static let jobs = max(1, Int(env["EPSIM_FUZZ_JOBS"] ?? "") ?? 2)
    static let only: Set<Int>? = env["EPSIM_FUZZ_ONLY"].map { Set($0.split(separator: ",").compactMap { Int($0) }) }

    /// What a mutation case does: one key set to one value, or one variant of a structural family.
    enum Slot: Sendable {
        case keyValue(FuzzMutations.KeySpec, String)
        case structural(FuzzStructural.Family, Int)
    }

    /// Every (key, value) pair and every structural variant, interleaved: one pass
    /// through them is the default run.
    static let slots: [Slot] = {
        let pairs = FuzzMutations.specs.flatMap { spec in FuzzMutations.values(for: spec).map { Slot.keyValue(spec, $0) } }
        let families = FuzzStructural.families
        let shapes = (0..<(families.count * FuzzStructural.variantsPerFamily)).map {
            Slot.structural(families[$0 % families.count].1, $0 / families.count)
        }
        var result: [Slot] = []
        var p = 0, q = 0
        while p < pairs.count || q < shapes.count {  // about 4 pairs per structural case
            if p < pairs.count { result.append(pairs[p]); p += 1 }
            if p % 4 == 0, q < shapes.count { result.append(shapes[q]); q += 1 }
            if p >= pairs.count, q < shapes.count { result += shapes[q...]; q = shapes.count }
        }
        return result
    }()

    /// By default every slot once, with a valid random layout between every two.
    static let defaultCount = slots.count * 3 / 2 + 1

    /// Case i of the config stream: every third a valid random layout, the others the
    /// next mutation slot (under mpirun, a random one), on 1-4 ranks (mpirun: 2-3).
    static func configCase(_ i: Int, mpi: Bool = false) -> FuzzCase {
        var g = FuzzRNG(seed: seed, stream: mpi ? 3 : 1, index: i)
        let P = mpi ? g.int(2...3) : g.int(1...4)
        if i % 3 == 0 {
            let (config, files) = FuzzLayouts.random(&g, ranks: P)
            return FuzzCase(index: i, label: "valid layout", config: config, files: files, ranks: P, expect: .run,
                            routingOut: g.chance(0.5))
        }
        let m = i - i / 3 - 1  // the m-th mutation
        switch slots[mpi ? g.int(0...(slots.count - 1)) : m % slots.count] {
        case let .keyValue(spec, value): return FuzzMutations.keyValue(&g, index: i, ranks: P, spec: spec, value: value)
        case let .structural(family, variant): return family(&g, i, P, variant)
        }
    }

    func testFuzzGeneratedConfigsEmulated() throws {
        let count = Int(Self.env["EPSIM_FUZZ_CASES"] ?? "") ?? Self.defaultCount
        try runSuite("configs", (0..<count).map { Self.configCase($0) }, mpi: false, reproduce: "EPSIM_FUZZ_ONLY=<index>")
    }

    func testFuzzRouterTracesEmulated() throws {
        try runSuite("npy traces", FuzzNpy.cases(seed: Self.seed), mpi: false, reproduce: "EPSIM_FUZZ_ONLY=<index>")
    }

    /// A sample under mpirun with 2 or 3 ranks: half valid layouts, half mistakes, and a
    /// few router traces (numbered from 10000).
    func testFuzzUnderMPI() throws {
        let count = Int(Self.env["EPSIM_FUZZ_MPI_CASES"] ?? "") ?? 20
        let traces = ["npy: valid v1.0", "npy: shape 2^40 rows", "npy: NaN in the first row", "npy: per-rank file truncated"]
        let npy = FuzzNpy.cases(seed: Self.seed, minRanks: 2, firstIndex: 10_000).filter { traces.contains($0.label) }
        try runSuite("mpirun configs", (0..<count).map { Self.configCase($0 * 3 / 2, mpi: true) } + npy, mpi: true,
                     reproduce: "EPSIM_FUZZ_ONLY=<index>")
    }

    private func runSuite(_ name: String, _ all: [FuzzCase], mpi: Bool, reproduce: String) throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: CLI.epsim), "build epsim first: \(CLI.epsim)")
        let cases = Self.only.map { only in all.filter { only.contains($0.index) } } ?? all
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("epsim-fuzz-\(UUID().uuidString)")
        let results = Results(count: cases.count)
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: Self.jobs) { _ in
            while let n = results.claim() {
                let c = cases[n]
                let dir = root.appendingPathComponent(String(format: "%@-%04d", mpi ? "mpi" : "case", c.index))
                let verdict: FuzzRunner.Verdict
                var args: [String] = []
                do {
                    let (ended, arguments) = try FuzzRunner.run(c, in: dir, mpi: mpi)
                    args = arguments
                    verdict = FuzzRunner.judge(c, ended, in: dir, mpi: mpi)
                } catch {
                    verdict = .failure(kind: "harness error", detail: "\(error)")
                }
                results.store(n, verdict, args)
                if Self.env["EPSIM_FUZZ_VERBOSE"] != nil {
                    print("fuzz: #\(c.index) [\(c.label)] expect \(c.expect.rawValue): \(String("\(verdict)".prefix(400)))")
                }
                if case .failure = verdict {} else if Self.env["EPSIM_FUZZ_KEEP"] == nil {
                    try? FileManager.default.removeItem(at: dir)
                }
            }
        }
        var errors = 0, runs = 0
        var failures: [(FuzzCase, String, String, [String])] = []
        for (n, (verdict, args)) in results.all.enumerated() {
            switch verdict {
            case .oneLineError: errors += 1
            case .verifiedRun: runs += 1
            case let .failure(kind, detail): failures.append((cases[n], kind, detail, args))
            case nil: failures.append((cases[n], "not run", "", []))
            }
        }
        let summary = "fuzz: \(cases.count) \(name): \(errors) one-line errors, \(runs) verified runs, \(failures.count) failures"
            + " (seed \(Self.seed), \(Int(Date().timeIntervalSince(started))) s)"
        print(summary)
        var byKind: [String: [String]] = [:]
        for (c, kind, _, _) in failures { byKind[kind, default: []].append("#\(c.index) \(c.label)") }
        for (kind, labels) in byKind.sorted(by: { $0.value.count > $1.value.count }) {
            print("fuzz:   \(labels.count) × \(kind): \(labels.prefix(12).joined(separator: "; "))\(labels.count > 12 ? "; …" : "")")
        }
        if Self.env["EPSIM_FUZZ_KEEP"] == nil && failures.isEmpty { try? FileManager.default.removeItem(at: root) }
        guard !failures.isEmpty else { return }
        let listed = failures.prefix(20).map { c, kind, detail, args in
            "--- case #\(c.index) [\(c.label)]: \(kind)\n    saw: \(detail.prefix(600))\n"
                + "    epsim \(args.map { $0.count > 120 ? String($0.prefix(120)) + "…" : $0 }.joined(separator: " "))\n"
                + "    \(c.description.replacingOccurrences(of: "\n", with: "\n    "))"
        }
        XCTFail(summary + "\nreproduce one: EPSIM_FUZZ_SEED=\(Self.seed) \(reproduce) swift test --skip-build --filter "
                + "FuzzTests/\(name == "npy traces" ? "testFuzzRouterTracesEmulated" : mpi ? "testFuzzUnderMPI" : "testFuzzGeneratedConfigsEmulated")"
                + "\ncase folders: \(root.path)\n" + listed.joined(separator: "\n"))
    }
}

/// Work queue and verdicts shared by the worker threads.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private(set) var all: [(FuzzRunner.Verdict?, [String])]

    init(count: Int) {
        self.count = count
        all = Array(repeating: (nil, []), count: count)
    }

    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ n: Int, _ verdict: FuzzRunner.Verdict, _ args: [String]) {
        lock.lock()
        all[n] = (verdict, args)
        lock.unlock()
    }
}
