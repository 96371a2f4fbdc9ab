import Foundation

/// Runs one fuzz case of `epsim run` (emulated or under mpirun) under a time and a
/// memory limit, and judges how it ended.
enum FuzzRunner {
    static let configName = "fuzz.yaml"
    static let environment = ProcessInfo.processInfo.environment
    /// Seconds before a run is killed and counted as a hang (EPSIM_FUZZ_TIMEOUT).
    static let timeout = Double(environment["EPSIM_FUZZ_TIMEOUT"] ?? "") ?? 60
    /// Address-space limit of every process (ulimit -v, KiB; EPSIM_FUZZ_MEMORY_KB). A valid
    /// tiny run needs about 750 MiB of address space at 4 emulated ranks (glibc reserves
    /// an arena per thread), and a few MiB resident; 2 GiB leaves room, and refuses the
    /// runaway allocations of unchecked sizes.
    static let memoryKB = Int(environment["EPSIM_FUZZ_MEMORY_KB"] ?? "") ?? 2_097_152

    enum Verdict: Equatable {
        /// the error line
        case oneLineError(String)
        case verifiedRun
        /// kind groups failures in the summary ("hang", "crash", ...); detail says what was seen.
        case failure(kind: String, detail: String)
    }

    struct Ended {
        var status: Int32 = 0
        var signalled = false
        var killed = false
        var stdout = ""
        var stderr = ""
    }

    /// Writes the case's files into `dir` and runs it there.
    static func run(_ c: FuzzCase, in dir: URL, mpi: Bool) throws -> (Ended, [String]) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(c.documentBytes).write(to: dir.appendingPathComponent(configName))
        for (name, bytes) in c.files { try Data(bytes).write(to: dir.appendingPathComponent(name)) }
        var args = ["run", "--config", dir.appendingPathComponent(configName).path, "--verify",
                    "--output", dir.appendingPathComponent("r.json").path]
        if c.routingOut { args += ["--routing-out", dir.appendingPathComponent("r.jsonl").path] }
        for o in c.overrides { args += ["--set", o] }
        var command: [String]
        if mpi {
            var flags = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                         "--mca", "btl", "self,vader,tcp", "-x", "OPENBLAS_NUM_THREADS=1"]
            if getuid() != 0 { flags.removeFirst() }
            command = ["mpirun"] + flags + ["-n", String(c.ranks), CLI.epsim] + args
        } else {
            command = [CLI.epsim] + args + ["--emulate", String(c.ranks)]
        }
        return (try launch(command, in: dir), args)
    }

    /// `sh -c 'ulimit -v N; exec "$@"' command...` with stdout and stderr in files (a
    /// killed run's orphans cannot block a pipe); SIGTERM at the deadline, SIGKILL 5 s later.
    static func launch(_ command: [String], in dir: URL) throws -> Ended {
        let out = dir.appendingPathComponent("stdout.txt"), err = dir.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "ulimit -v \(memoryKB) && exec \"$@\"", "sh"] + command
        process.currentDirectoryURL = dir
        var env = environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let exited = CLI.exitSignal(of: process)
        try process.run()
        var ended = Ended()
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            ended.killed = true
            let pid = process.processIdentifier
            let group = getpgid(pid) == pid  // kill the whole group only if it is the child's own
            kill(group ? -pid : pid, SIGTERM)
            if exited.wait(timeout: .now() + 5) == .timedOut { kill(group ? -pid : pid, SIGKILL) }
        }
        process.waitUntilExit()
        ended.status = process.terminationStatus
        ended.signalled = process.terminationReason == .uncaughtSignal
        ended.stdout = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        ended.stderr = String(decoding: (try? Data(contentsOf: err)) ?? Data(), as: UTF8.self)
        return ended
    }

    /// Outcome (a), one-line error, or (b), a verified run, else what went wrong.
    static func judge(_ c: FuzzCase, _ e: Ended, in dir: URL, mpi: Bool) -> Verdict {
        let lines = e.stderr.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let firstLines = lines.prefix(3).map { String($0.prefix(300)) }.joined(separator: " | ")
        if e.killed { return .failure(kind: "hang (killed after \(Int(timeout)) s)", detail: firstLines) }
        if e.signalled { return .failure(kind: "crash (signal \(e.status))", detail: firstLines) }
        for marker in ["Fatal error", "Backtracing", "Crash", "Stack dump", "Thread 0 crashed", "Segmentation fault",
                       "exited on signal"]
        where e.stderr.contains(marker) {
            return .failure(kind: "crash/backtrace", detail: firstLines)
        }
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.contains(".tmp.") }
        if !leftovers.isEmpty { return .failure(kind: "leftover tmp file", detail: leftovers.joined(separator: " ")) }
        if e.status != 0 {
            if let verdict = e.stdout.split(separator: "\n").first(where: { $0.hasPrefix("verification") && $0.contains("FAIL") }) {
                return .failure(kind: "verification failed", detail: String(verdict))
            }
            let epsim = lines.filter { $0.hasPrefix("epsim: error:") }
            if epsim.isEmpty { return .failure(kind: "exit \(e.status) without an epsim: error: line", detail: firstLines) }
            if epsim.count > 1 {
                return .failure(kind: mpi ? "error printed \(epsim.count) times" : "multi-line error", detail: firstLines)
            }
            // Under mpirun, Open MPI's own notice may follow epsim's line.
            if !mpi && lines.count > 1 { return .failure(kind: "multi-line error", detail: firstLines) }
            if lines.first != epsim[0] { return .failure(kind: "epsim: error: not the first line", detail: firstLines) }
            let line = epsim[0]
            if c.expect == .run { return .failure(kind: "valid layout refused", detail: String(line.prefix(400))) }
            if !c.mentions.isEmpty && !c.mentions.contains(where: { line.contains($0) }) {
                return .failure(kind: "error does not name \(c.mentions.joined(separator: " or "))", detail: String(line.prefix(400)))
            }
            if c.viaSet && !line.contains("--set") {
                return .failure(kind: "error in an override does not name --set", detail: String(line.prefix(400)))
            }
            return .oneLineError(line)
        }
        if c.expect == .error {
            return .failure(kind: "invalid input accepted (expected an error naming \(c.mentions.joined(separator: " or ")))",
                            detail: String(e.stdout.split(separator: "\n").last ?? ""))
        }
        if let problem = checkResult(c, in: dir) { return .failure(kind: problem.0, detail: problem.1) }
        return .verifiedRun
    }

    /// The result JSON and routing dump of a successful run: verification passed with a
    /// finite error, accounting closes, the dump is JSON Lines agreeing with the counters.
    static func checkResult(_ c: FuzzCase, in dir: URL) -> (String, String)? {
        guard let data = try? Data(contentsOf: dir.appendingPathComponent("r.json")) else {
            return ("no result JSON", "r.json missing")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            let text = String(decoding: data, as: UTF8.self)
            let nonFinite = ["nan", "NaN", "inf", "Infinity"].first { text.contains($0) }
            return (nonFinite.map { "result JSON has \($0) (not JSON)" } ?? "result JSON unreadable", String(text.prefix(200)))
        }
        let verification = json["verification"] as? [String: Any] ?? [:]
        let error = (verification["max_rel_error"] as? NSNumber)?.doubleValue
        guard verification["ran"] as? Bool == true, verification["passed"] as? Bool == true,
              verification["decisions_match"] as? Bool == true else {
            return ("exit 0 without a passed verification", "\(verification)")
        }
        guard let error, error.isFinite, error <= ((verification["tolerance"] as? NSNumber)?.doubleValue ?? 0) else {
            return ("PASS with a non-finite or excessive max_rel_error", "\(verification)")
        }
        let routing = json["routing"] as? [String: Any] ?? [:]
        let count = { (key: String) in (routing[key] as? NSNumber)?.intValue ?? -1 }
        let (a, accepted, rerouted, dropped) = (count("assignments"), count("accepted"), count("rerouted"), count("dropped"))
        guard a >= 0, a == accepted + rerouted + dropped, routing["accounting_closes"] as? Bool == true else {
            return ("accounting does not close", "assignments \(a) accepted \(accepted) rerouted \(rerouted) dropped \(dropped)")
        }
        if let expected = expectedAssignments(json), expected != a {
            return ("assignments differ from tokens × top_k × layers × steps", "\(a) != \(expected)")
        }
        guard c.routingOut else { return nil }
        guard let dump = try? String(contentsOf: dir.appendingPathComponent("r.jsonl"), encoding: .utf8) else {
            return ("routing dump missing", "r.jsonl")
        }
        var outcomes: [String: Int] = [:], lines = 0
        for line in dump.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let outcome = object["outcome"] as? String else {
                return ("routing dump line is not JSON", String(line.prefix(200)))
            }
            outcomes[outcome, default: 0] += 1
            lines += 1
        }
        guard lines == a, outcomes["accepted", default: 0] == accepted, outcomes["rerouted", default: 0] == rerouted,
              outcomes["dropped", default: 0] == dropped else {
            return ("routing dump disagrees with the result", "\(lines) lines \(outcomes) vs assignments \(a)")
        }
        return nil
    }

    /// Σ_r T_r · k · layers · steps from the resolved config in the result.
    static func expectedAssignments(_ json: [String: Any]) -> Int? {
        guard let config = json["config"] as? [String: Any], let model = config["model"] as? [String: Any],
              let k = model["top_k"] as? Int, let layers = model["layers"] as? Int,
              let ranks = (json["environment"] as? [String: Any])?["ranks"] as? Int else { return nil }
        let steps = ((json["steps"] as? [String: Any])?["counted"] as? Int) ?? (config["steps"] as? Int) ?? 0
        let tokens = (config["tokens"] as? [Int])?.reduce(0, +) ?? ((config["tokens"] as? Int).map { $0 * ranks } ?? 0)
        return tokens * k * layers * steps
    }
}
