@testable import EpsimRuntime
import Foundation
import XCTest
import Yams

/// `epsim calibrate`: the link fit on synthetic sweeps, the command end to end on both
/// transports, and its option errors.
final class CalibrateCommandTests: XCTestCase {
    // MARK: the fit

    /// Bytes a rank sends over the link at each size of a full sweep (8 B … 4 MiB per peer).
    private func linkBytes(ranks: Int) -> [Double] {
        (3...22).map { Double((1 << $0) * (ranks - 1)) }
    }

    func testFitRecoversExactLatencyAndBandwidth() throws {
        for (ranks, latency, rate) in [(2, 1.7e-6, 9.5e9), (4, 9e-6, 3.2e9), (8, 34e-6, 160e9)] {
            let x = linkBytes(ranks: ranks)
            let t = x.map { latency + $0 / rate }
            let fit = try LinkFit.fit(bytes: x, seconds: t)
            XCTAssertEqual(fit.latencySeconds, latency, accuracy: 1e-9 * latency, "P \(ranks)")
            XCTAssertEqual(fit.bytesPerSecond, rate, accuracy: 1e-9 * rate, "P \(ranks)")
            XCTAssertLessThan(fit.relativeErrors(bytes: x, seconds: t).max()!, 1e-9)
        }
    }

    /// ±10 % multiplicative noise from a repeatable generator: both parameters within
    /// 10 %, and the fit's median error no more than the noise.
    func testFitWithNoiseStaysClose() throws {
        var state: UInt64 = 42
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        for trial in 0..<20 {
            let latency = 20e-6, rate = 12e9
            let x = linkBytes(ranks: 4)
            let t = x.map { (latency + $0 / rate) * (0.9 + 0.2 * uniform()) }
            let fit = try LinkFit.fit(bytes: x, seconds: t)
            XCTAssertEqual(fit.latencySeconds, latency, accuracy: 0.1 * latency, "trial \(trial)")
            XCTAssertEqual(fit.bytesPerSecond, rate, accuracy: 0.1 * rate, "trial \(trial)")
            XCTAssertLessThan(median(fit.relativeErrors(bytes: x, seconds: t)), 0.1, "trial \(trial)")
        }
    }

    func testFitWithoutLatencyAndWithNegativeIntercept() throws {
        let rate = 7e9
        let x = linkBytes(ranks: 2)
        let pure = try LinkFit.fit(bytes: x, seconds: x.map { $0 / rate })
        XCTAssertGreaterThanOrEqual(pure.latencySeconds, 0)
        XCTAssertLessThan(pure.latencySeconds, 1e-15)
        XCTAssertEqual(pure.bytesPerSecond, rate, accuracy: 1e-9 * rate)

        // Large messages only, each 50 µs faster than the line through the origin: the
        // unconstrained fit's latency is -50 µs; a link has none below 0.
        let big = [1 << 20, 2 << 20, 4 << 20, 8 << 20].map(Double.init)
        let clamped = try LinkFit.fit(bytes: big, seconds: big.map { $0 / rate - 50e-6 })
        XCTAssertEqual(clamped.latencySeconds, 0)
        XCTAssertGreaterThan(clamped.bytesPerSecond, rate)
    }

    func testFitRefusesWhatItCannotFit() {
        XCTAssertThrowsError(try LinkFit.fit(bytes: [8, 8, 8], seconds: [1e-6, 2e-6, 3e-6]))  // one size
        XCTAssertThrowsError(try LinkFit.fit(bytes: [8, 64, 512], seconds: [3e-6, 2e-6, 1e-6]))  // falls with size
        XCTAssertThrowsError(try LinkFit.fit(bytes: [8, 64], seconds: [1e-6]))
        XCTAssertThrowsError(try LinkFit.fit(bytes: [8, 64], seconds: [1e-6, 0]))
        XCTAssertThrowsError(try LinkFit.fit(bytes: [8, 64], seconds: [1e-6, .nan]))
    }

    // MARK: end to end

    /// The most the fitted model may miss the measured sweep it was fitted to, as a
    /// median over sizes (the sweep of a loaded 2-core host is noisy: the emulated
    /// transport's small messages wait for thread wake-ups).
    static let fitErrorBound = 0.6

    /// An output in a directory that does not exist is refused before measuring, like
    /// every other output (nothing is created on the way).
    func testOutputInAMissingDirectoryIsOneLine() throws {
        let dir = try CLI.temporaryDirectory()
        let output = dir.appendingPathComponent("missing/host.yaml")
        let run = try CLI.epsim(["calibrate", "--quick", "--emulate", "2", "--output", output.path])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains(output.path), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("missing").path))
    }

    func testQuickEmulatedWritesAConsistentSystemFile() throws {
        let dir = try CLI.temporaryDirectory()
        let output = dir.appendingPathComponent("host.yaml")
        let run = try CLI.epsim(["calibrate", "--quick", "--emulate", "2", "--expert-ms", "2", "--output", output.path],
                                timeout: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stderr, "")
        XCTAssertTrue(run.stdout.contains("\n#   Size  Avg Latency(us)  Min Latency(us)  Max Latency(us)"), run.stdout)
        XCTAssertTrue(run.stdout.contains("# the same after the experts, as a combine meets the link: 2.00 ms of expert FFN"),
                      run.stdout)
        XCTAssertTrue(run.stdout.contains("\nafter the experts (combine): latency "), run.stdout)
        XCTAssertTrue(run.stdout.contains("wrote \(output.path)"), run.stdout)
        if ProcessInfo.processInfo.activeProcessorCount >= 2 {
            XCTAssertFalse(run.stdout.contains(" ranks on "), "2 ranks fit the cores: no warning\n\(run.stdout)")
        }
        try checkSystemFile(output, ranks: 2, transport: "emulated", expertMillis: 2)
    }

    /// More ranks than cores: the file is written, and calibrate says its figures include
    /// the wait for a core.
    func testMoreRanksThanCoresIsWarnedOf() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard cores <= 8 else { throw XCTSkip("\(cores) cores: \(cores + 1) emulated ranks would take too long here") }
        let output = try CLI.temporaryDirectory().appendingPathComponent("host.yaml")
        let run = try CLI.epsim(["calibrate", "--quick", "--emulate", "\(cores + 1)", "--output", output.path], timeout: 300)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("WARNING: \(cores + 1) ranks on \(cores) cores: ranks wait for a core"), run.stdout)
        XCTAssertTrue(try String(contentsOf: output, encoding: .utf8).contains("ranks on \(cores) cores"))
    }

    func testQuickUnderMPIWritesAConsistentSystemFile() throws {
        let dir = try CLI.temporaryDirectory()
        let output = dir.appendingPathComponent("host.yaml")
        // CLI.mpirun's flags, but each rank bound to a core (mpirun's default): with
        // --bind-to none the two ranks of a loaded 2-core host can share one core, and
        // the sweep then measures the scheduler (milliseconds a call) instead of the link.
        var flags = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader,tcp",
                     "-x", "OPENBLAS_NUM_THREADS=1"]
        if getuid() != 0 { flags.removeFirst() }
        let run = try CLI.run("/usr/bin/env", ["mpirun"] + flags + ["-n", "2", CLI.epsim, "calibrate", "--quick",
                                                                    "--output", output.path], timeout: 180)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout.components(separatedBy: "wrote ").count, 2, "rank 0 alone reports:\n\(run.stdout)")
        try checkSystemFile(output, ranks: 2, transport: "mpi", expertMillis: 8)
    }

    /// The file's keys and values, and its fit against its own measured sweep.
    private func checkSystemFile(_ url: URL, ranks: Int, transport: String, expertMillis: Double,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        let root = try XCTUnwrap(try Yams.load(yaml: text) as? [String: Any], text)
        XCTAssertEqual(Set(root.keys), ["name", "devices_per_node", "device", "intra_node", "inter_node", "all_to_all"])
        XCTAssertFalse((root["name"] as? String ?? "").isEmpty)
        XCTAssertEqual(root["devices_per_node"] as? Int, ranks)
        XCTAssertEqual(root["all_to_all"] as? String, "flat")
        XCTAssertTrue(text.hasPrefix("# System file written by `epsim calibrate` on 20"), text)
        XCTAssertTrue(text.contains("ranks: \(ranks), all on this host; transport: \(transport)"), text)

        func positive(_ value: Any?, _ what: String) throws -> Double {
            let x = try XCTUnwrap(value as? Double, what, file: file, line: line)
            XCTAssertTrue(x.isFinite && x > 0, "\(what) = \(x)", file: file, line: line)
            return x
        }
        let device = try XCTUnwrap(root["device"] as? [String: Any])
        let tflops = try positive(device["bf16_tflops"], "bf16_tflops")
        XCTAssertEqual(try positive(device["gemm_efficiency"], "gemm_efficiency"), 1)
        let hbm = try positive(device["hbm_gbps"], "hbm_gbps")
        _ = try positive(device["launch_us"], "launch_us")
        // memcpy by size: 64 KiB … 16 MiB and the streaming size, whose rate is hbm_gbps.
        let copies = try XCTUnwrap(device["copy_rates"] as? [[String: Any]], "copy_rates")
        XCTAssertEqual(copies.map { $0["bytes"] as? Int ?? 0 }, [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20])
        for c in copies { _ = try positive(c["gbps"], "copy_rates gbps") }
        XCTAssertEqual(copies.last?["gbps"] as? Double, hbm)
        XCTAssertNotNil(text.range(of: #"# 64.00 MiB \(the caches emptied; [0-9.]+ ms\), then a barrier \(it takes the ranks. differences\),"#,
                                   options: .regularExpression), "the sweep says how its caches were emptied")
        XCTAssertEqual(device["execution"] as? String, "loop")
        try checkPerRowCosts(text, device: device, file: file, line: line)
        let points = try XCTUnwrap(device["efficiency"] as? [[String: Any]])
        let shapes = [(256, 512), (256, 896)], rows = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        XCTAssertEqual(points.map { $0["hidden"] as? Int ?? 0 }, shapes.flatMap { s in rows.map { _ in s.0 } })
        XCTAssertEqual(points.map { $0["ffn"] as? Int ?? 0 }, shapes.flatMap { s in rows.map { _ in s.1 } })
        XCTAssertEqual(points.map { $0["rows"] as? Int ?? 0 }, shapes.flatMap { _ in rows })
        var best = 0.0
        for p in points {
            let ms = try positive(p["ms"], "ms")
            best = max(best, 6 * Double(p["rows"] as! Int) * Double(p["hidden"] as! Int) * Double(p["ffn"] as! Int) / (ms * 1e-3))
        }
        XCTAssertEqual(tflops, best / 1e12, accuracy: 1e-9 * tflops, "bf16_tflops is the table's best rate")

        let intra = try XCTUnwrap(root["intra_node"] as? [String: Any])
        let inter = try XCTUnwrap(root["inter_node"] as? [String: Any])
        let gbps = try positive(intra["gbps"], "gbps"), latency = intra["latency_us"] as? Double ?? -1
        XCTAssertTrue(latency.isFinite && latency >= 0, "latency_us \(latency)")
        XCTAssertEqual(intra["efficiency"] as? Double, 1)
        XCTAssertEqual(Set(intra.keys), ["gbps", "efficiency", "latency_us", "after_experts", "sweep"])
        // The combine's link: the second sweep's fit and its measured times, on both link classes.
        let after = try XCTUnwrap(intra["after_experts"] as? [String: Any], "after_experts")
        XCTAssertEqual(Set(after.keys), ["gbps", "latency_us", "sweep"])
        let afterGBps = try positive(after["gbps"], "after_experts.gbps"), afterLatency = after["latency_us"] as? Double ?? -1
        XCTAssertTrue(afterLatency.isFinite && afterLatency >= 0, "after_experts.latency_us \(afterLatency)")
        XCTAssertEqual(inter["gbps"] as? Double, gbps)
        XCTAssertEqual(inter["latency_us"] as? Double, latency)
        XCTAssertEqual(inter["efficiency"] as? Double, 1)
        XCTAssertEqual(inter["after_experts"] as? NSDictionary, after as NSDictionary)
        XCTAssertEqual(inter["sweep"] as? NSArray, intra["sweep"] as? NSArray)
        XCTAssertNotNil(intra["sweep"] as? NSArray)
        XCTAssertTrue(text.contains("# iterations each): "
                                    + String(format: "%.2f", expertMillis) + " ms of expert FFN (4 experts of H 256, F 512 in turn, 256 rows each; "),
                      "the second sweep says what ran before each call")

        // The sweeps, from the header comment: Size, Avg, Min, Max (µs), Iterations,
        // Link GB/s, Fit (µs), Fit error %. With --quick the dispatch's 8 × 4^i, the
        // combine's 8 × 4^i and --max-bytes; 10 timed iterations each. The links' `sweep`
        // points are the tables' link bytes and Avg Latency.
        let lines = text.split(separator: "\n").map(String.init)
        let titles = lines.indices.filter { lines[$0].hasPrefix("#") && lines[$0].contains("Avg Latency(us)") }
        XCTAssertEqual(titles.count, 2, "two sweep tables", file: file, line: line)
        guard titles.count == 2 else { return }
        try checkSweep(lines, title: titles[0], ranks: ranks, latency: latency, gbps: gbps,
                       sizes: [8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288], iterations: 10, transport: transport,
                       points: intra["sweep"], file: file, line: line)
        try checkSweep(lines, title: titles[1], ranks: ranks, latency: afterLatency, gbps: afterGBps,
                       sizes: [8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288, 1048576], iterations: 10,
                       transport: transport + ", after the experts", points: after["sweep"], file: file, line: line)
    }

    /// One sweep table of the header (the title at `title`): its sizes, its Fit column
    /// the file's latency and bandwidth, the fit's median error within `fitErrorBound`,
    /// the fit the least-squares optimum of the relative error, and the link's `sweep`
    /// (`points`) each row's link bytes and Avg Latency.
    private func checkSweep(_ lines: [String], title: Int, ranks: Int, latency: Double, gbps: Double, sizes: [Int],
                            iterations: Int, transport: String, points: Any?, file: StaticString, line: UInt) throws {
        let sweep: [[Double]] = lines[(title + 1)...].prefix { !$0.dropFirst().trimmingCharacters(in: .whitespaces).isEmpty }
            .map { $0.dropFirst().split(separator: " ").filter { $0 != "%" }.compactMap { Double($0) } }
        XCTAssertEqual(sweep.map { Int($0[0]) }, sizes, file: file, line: line)
        let measured = try XCTUnwrap(points as? [[String: Any]], "sweep", file: file, line: line)
        XCTAssertEqual(measured.map { $0["bytes"] as? Int ?? -1 }, sizes.map { $0 * (ranks - 1) }, file: file, line: line)
        for (point, row) in zip(measured, sweep) {
            XCTAssertEqual(point["us"] as? Double ?? -1, row[1], accuracy: 0.0015, "sweep \(point) against \(row)",
                           file: file, line: line)
        }
        var errors: [Double] = []
        for row in sweep {
            XCTAssertEqual(row.count, 8, "\(row)", file: file, line: line)
            XCTAssertEqual(Int(row[4]), iterations, "\(row)", file: file, line: line)
            let bytes = row[0] * Double(ranks - 1), average = row[1] * 1e-6
            XCTAssertTrue(average > 0 && row[2] <= row[1] + 1e-3 && row[1] <= row[3] + 1e-3, "\(row)", file: file, line: line)
            let model = latency * 1e-6 + bytes / (gbps * 1e9)
            XCTAssertEqual(row[6], model * 1e6, accuracy: 0.0015, "the Fit column is the file's model: \(row)",
                           file: file, line: line)
            errors.append(abs(model - average) / average)
        }
        let medianError = median(errors)
        print("calibrate (\(transport)): fit median relative error over its own sweep \(medianError * 100) %, "
              + "latency \(latency) us, \(gbps) GB/s")
        XCTAssertLessThanOrEqual(medianError, Self.fitErrorBound, "\(sweep)", file: file, line: line)
        // The file's fit is the least-squares optimum of the relative error: moving
        // either parameter by 10 % either way fits worse.
        func cost(_ a: Double, _ g: Double) -> Double {
            sweep.reduce(0) { s, row in
                let r = (a + row[0] * Double(ranks - 1) / (g * 1e3)) / row[1] - 1
                return s + r * r
            }
        }
        let fitted = cost(latency, gbps)
        for (a, g) in [(latency * 1.1, gbps), (latency * 0.9, gbps), (latency, gbps * 1.1), (latency, gbps * 0.9)] {
            XCTAssertLessThanOrEqual(fitted, cost(a, g) * (1 + 1e-6), "latency \(a) us, \(g) GB/s fits better",
                                     file: file, line: line)
        }
    }

    /// compute_bytes 4, and the per-row costs: the header's measured phase times (the
    /// layer run's), less their byte terms, per row. The permute (capacity decisions, with
    /// no bytes of their own) is positive; the unpermute key is left out when its bytes at
    /// the copy rates take longer than the measured phase (clamped to its default 0).
    private func checkPerRowCosts(_ text: String, device: [String: Any], file: StaticString, line: UInt) throws {
        XCTAssertEqual(device["compute_bytes"] as? Int, 4, file: file, line: line)
        let lines = text.split(separator: "\n").map(String.init)
        for (phase, key) in [("permute", "permute_row_ns"), ("unpermute", "unpermute_row_ns")] {
            let row = try XCTUnwrap(lines.first { $0.hasPrefix("#   \(phase): ") }, phase, file: file, line: line)
            let numbers = row.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: ":"))) }
            XCTAssertEqual(numbers.count, 4, row, file: file, line: line)
            guard numbers.count == 4 else { continue }
            let (measured, bytes, rows, nanos) = (numbers[0], numbers[1], numbers[2], numbers[3])
            XCTAssertTrue(measured > 0 && bytes > 0 && measured.isFinite && bytes.isFinite, row, file: file, line: line)
            // The permute's cost is per assignment, the unpermute's per row sent: T k = 512
            // both (the calibration's layer run, 256 tokens, top-2, dropless).
            XCTAssertEqual(rows, 512, row, file: file, line: line)
            XCTAssertEqual(nanos, max(0, (measured - bytes) * 1e6 / rows), accuracy: 1e-6 * max(1, nanos), row,
                           file: file, line: line)
            if nanos > 0 {
                let written = try XCTUnwrap(device[key] as? Double, key, file: file, line: line)
                XCTAssertTrue(written.isFinite && written > 0 && written <= 1e6, "\(key) \(written)", file: file, line: line)
                XCTAssertEqual(written, nanos, accuracy: 1e-6 * nanos, file: file, line: line)
            } else {
                XCTAssertNil(device[key], "\(key) at its default 0 is left out", file: file, line: line)
            }
            if phase == "permute" { XCTAssertGreaterThan(nanos, 0, row, file: file, line: line) }
        }
    }

    private func median(_ values: [Double]) -> Double {
        let s = values.sorted(), m = s.count / 2
        return s.isEmpty ? 0 : s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    // MARK: errors

    func testBadOptionsGiveOneLineAndNoFile() throws {
        let dir = try CLI.temporaryDirectory()
        let output = dir.appendingPathComponent("host.yaml").path
        let cases: [([String], String)] = [
            (["--repeats", "0"], "--repeats: expected 1...1000, got 0"),
            (["--repeats", "1001"], "--repeats: expected 1...1000, got 1001"),
            (["--max-bytes", "4"], "--max-bytes: expected bytes per peer in 8...268435456, got 4"),
            (["--max-bytes", "268435457"], "--max-bytes: expected bytes per peer in 8...268435456, got 268435457"),
            (["--max-bytes", "8"], "--max-bytes: expected at least 32 bytes per peer with --quick, two message sizes"),
            (["--max-bytes", "31"], "--max-bytes: expected at least 32 bytes per peer with --quick, two message sizes"),
            (["--expert-ms", "0"], "--expert-ms: expected milliseconds in 0.1...100.0, got 0.0"),
            (["--expert-ms", "101"], "--expert-ms: expected milliseconds in 0.1...100.0, got 101.0"),
            (["--expert-ms", "nan"], "--expert-ms: expected milliseconds in 0.1...100.0, got nan"),
            (["--expert-ms", "-1"], "--expert-ms: expected milliseconds in 0.1...100.0, got -1.0"),
            (["--emulate", "1"], "--emulate: calibrate measures the all-to-allv between ranks and needs at least 2, got 1"),
            (["--emulate", "0"], "--emulate: expected a number of ranks in 1...4096, got 0"),
            (["--emulate", "2", "--timeout", "5"], "Unknown option '--timeout'"),
            (["--emulate", "8", "--max-bytes", "268435456"],
             "--max-bytes 268435456: the all-to-allv buffers of 8 ranks take 32.00 GiB on this host"),
            (["--emulate", "2", "--output", ""], "--output: the path is empty"),
            (["--emulate", "2", "--output", dir.path], "--output: \(dir.path): cannot write: it is a directory"),
            // A world of one (a singleton MPI process): no link to measure.
            ([], "calibrate measures the all-to-allv between ranks and needs at least 2"),
        ]
        for (arguments, message) in cases {
            let args = ["calibrate", "--quick", "--output", output] + arguments
            let run = try CLI.epsim(args)
            XCTAssertNotEqual(run.status, 0, "\(arguments)")
            XCTAssertEqual(run.errorLines.count, 1, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.epsimErrors.first?.hasPrefix("epsim: error: " + message) ?? false,
                          "\(arguments): \(run.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: output), "\(arguments) wrote \(output)")
        }
    }

    /// What is refused before measuring; ranks on several hosts cannot be started here,
    /// so the check is called directly.
    func testSetupChecks() throws {
        let options = Calibration.Options(quick: true)
        XCTAssertNoThrow(try Calibration.check(options, ranks: 2, hosts: ["a", "a"]))
        XCTAssertNoThrow(try Calibration.check(options, ranks: 2, hosts: []))  // not rank 0
        func message(_ ranks: Int, _ hosts: [String], _ o: Calibration.Options = options) -> String {
            do { try Calibration.check(o, ranks: ranks, hosts: hosts) } catch { return "\(error)" }
            return ""
        }
        XCTAssertEqual(message(3, ["a", "b", "a"]),
                       "calibrate measures one host, but the ranks run on 2 (a, b); start every rank on one node")
        XCTAssertTrue(message(1, ["a"]).hasSuffix("this world has 1"))
        // The sweep's 2 × P × P × max-bytes, and per rank its eviction buffer and two memcpy
        // buffers (32 MiB each at 16 ranks: 1.5 GiB) and the combine sweep's experts (4 of
        // 256 × 512: 6 MiB of weights, 0.5 MiB of input and output rows, 1.5 MiB of
        // activations for 384 rows: 128 MiB in all), within 4 GiB: 2 GiB + 1.63 GiB fit,
        // 4 GiB + 1.63 GiB do not.
        XCTAssertEqual(ExpertPhase.bytes(Calibration.ExpertShape(hidden: 256, ffn: 512)), 8 << 20)
        XCTAssertEqual(message(16, [], Calibration.Options(maxBytes: 4 << 20)), "")
        XCTAssertEqual(message(16, [], Calibration.Options(maxBytes: 8 << 20)),
                       "--max-bytes 8388608: the all-to-allv buffers of 16 ranks take 4.00 GiB on this host (2 × ranks × "
                       + "max-bytes per rank), with 1.63 GiB of cache-eviction, memcpy and expert buffers more than the "
                       + "limit of 4.00 GiB; lower --max-bytes")
    }

    /// Bytes per peer of the two sweeps: every power of two (every other with --quick),
    /// the combine's also --max-bytes, never a size twice, at least two wherever the
    /// option check lets a value through, and none below the smallest message.
    func testSweepSizes() {
        func sizes(_ quick: Bool, _ maxBytes: Int, _ state: CalibrationBench.SweepState) -> [Int] {
            Calibration.Options(quick: quick, maxBytes: maxBytes).sizes(state)
        }
        XCTAssertEqual(sizes(false, 16, .afterPermute), [8, 16])
        XCTAssertEqual(sizes(false, 16, .afterExperts), [8, 16])
        XCTAssertEqual(sizes(true, 32, .afterPermute), [8, 32])
        XCTAssertEqual(sizes(true, 32, .afterExperts), [8, 32])
        XCTAssertEqual(sizes(false, 32, .afterPermute), [8, 16, 32])
        XCTAssertEqual(sizes(false, 32, .afterExperts), [8, 16, 32])
        XCTAssertEqual(sizes(false, 48, .afterExperts), [8, 16, 32, 48])
        XCTAssertEqual(sizes(true, 128, .afterPermute), [8, 32, 128])
        XCTAssertEqual(sizes(true, 128, .afterExperts), [8, 32, 128])
        XCTAssertEqual(sizes(true, 129, .afterExperts), [8, 32, 128, 129])
        XCTAssertEqual(sizes(false, 4 << 20, .afterExperts), sizes(false, 4 << 20, .afterPermute))
        XCTAssertEqual(sizes(true, 3 << 20, .afterExperts), sizes(true, 3 << 20, .afterPermute) + [3 << 20])
        XCTAssertEqual(sizes(false, 4 << 20, .afterPermute).count, 20)
        XCTAssertEqual(sizes(false, 4, .afterExperts), [])
        XCTAssertEqual(Calibration.Options(quick: true).sizes, sizes(true, 1 << 20, .afterPermute))
    }

    func testHelpNamesEveryOption() throws {
        let run = try CLI.epsim(["calibrate", "--help"], environment: ["COLUMNS": "200"])
        XCTAssertEqual(run.status, 0)
        XCTAssertTrue(run.stdout.contains(
            "USAGE: epsim calibrate [--output <file>] [--emulate <N>] [--quick] [--max-bytes <bytes>] [--repeats <n>] "
                + "[--expert-ms <ms>]"),
            run.stdout)
        XCTAssertTrue(run.stdout.contains("(default: configs/systems/host.yaml)"), run.stdout)
    }

    func testBadOptionUnderMPIIsPrintedOnce() throws {
        let run = try CLI.mpirun(2, ["calibrate", "--quick", "--repeats", "0"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.epsimErrors, ["epsim: error: --repeats: expected 1...1000, got 0 (see 'epsim --help')"])
    }
}
