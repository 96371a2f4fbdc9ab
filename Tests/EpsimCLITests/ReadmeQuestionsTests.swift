import Foundation
import XCTest

/// README.md, "Answering layout questions": the commands it gives still run (debug build,
/// 8 emulated ranks, one counted step instead of three), their text still has the
/// columns, rows and legend lines the README's excerpts quote, in the order quoted, and
/// each answer read from those lines still holds. The figures compared are decisions
/// (drop rates, imbalance, bytes) and modeled times, which read no clock; no measured
/// time is compared.
final class ReadmeQuestionsTests: XCTestCase {
    /// Fewer steps than the configs' 3 after 1 warm-up: the debug build is slow.
    private let short = ["--set", "steps=1", "--set", "warmup_steps=0"]

    /// The section's text, from its heading to the next `## ` heading.
    private func section() throws -> [String] {
        let text = try String(contentsOf: CLI.root.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let start = try XCTUnwrap(lines.firstIndex(of: "## Answering layout questions"), "README.md has no such section")
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.count
        return Array(lines[start..<end])
    }

    /// The two fenced blocks after the `### N.` heading: the shell command and the excerpt
    /// of its output, the fences left out.
    private func blocks(question n: Int) throws -> (command: [String], excerpt: [String]) {
        let lines = try section()
        let heading = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("### \(n). ") }, "no question \(n)")
        var fenced: [[String]] = [], current: [String]? = nil
        for line in lines[heading...] where fenced.count < 2 {
            if line.hasPrefix("```") {
                if let block = current { fenced.append(block); current = nil } else { current = [] }
            } else if current != nil {
                current!.append(line)
            }
        }
        XCTAssertEqual(fenced.count, 2, "question \(n) needs a command block and an output block")
        return (fenced.first ?? [], fenced.last ?? [])
    }

    /// A README command (`.build/release/epsim ...`, `\` continuations) as epsim arguments.
    private func arguments(_ command: [String]) throws -> [String] {
        let words = command.joined(separator: " ").replacingOccurrences(of: "\\", with: " ")
            .split(whereSeparator: \.isWhitespace).map(String.init)
        XCTAssertEqual(words.first, ".build/release/epsim")
        return Array(words.dropFirst())
    }

    /// A table line's label: the text before its first run of two spaces (leading spaces
    /// kept), or the whole line.
    private func label(_ line: String) -> String {
        let indent = line.prefix { $0 == " " }
        let rest = line.dropFirst(indent.count)
        guard let gap = rest.range(of: "  ") else { return line }
        return String(indent + rest[..<gap.lowerBound])
    }

    /// The numbers in `text` (`1.90 / 1.65` gives [1.90, 1.65]; `0.01%` gives [0.01]).
    private func numbers(_ text: String) -> [Double] {
        text.split { !($0.isNumber || $0 == ".") }.compactMap { Double($0) }
    }

    /// Each excerpt line after the first (the column names, whose widths follow the
    /// values) has its label on an output line, in the excerpt's order; returns, per
    /// excerpt line, the output line found.
    private func matchLabels(_ excerpt: [String], in output: [String],
                             file: StaticString = #filePath, line: UInt = #line) -> [String: String] {
        var found: [String: String] = [:], from = 0
        var group = ""
        for quoted in excerpt.dropFirst() {
            let want = label(quoted)
            guard let i = output[from...].firstIndex(where: { label($0) == want }) else {
                XCTFail("README quotes `\(want)`, not in the output after line \(from):\n\(output.joined(separator: "\n"))",
                        file: file, line: line)
                return found
            }
            if !want.hasPrefix(" ") { group = want }
            found[want.hasPrefix(" ") ? group + "/" + want.trimmingCharacters(in: .whitespaces) : want] = output[i]
            from = i + 1
        }
        return found
    }

    func testQuestion1SweepPrintsTheQuotedTableAndTwoPointZeroStillDropsUnderOnePercent() throws {
        let (command, excerpt) = try blocks(question: 1)
        let args = try arguments(command)
        XCTAssertEqual(Array(args.prefix(1)), ["sweep"])
        let r = try CLI.epsim(args + short, timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = r.stdout.components(separatedBy: "\n")
        // The column names and every legend line, exactly as quoted.
        let header = try XCTUnwrap(excerpt.first)
        let quotedRows = excerpt.dropFirst().filter { $0.first?.isNumber == true }
        let legend = excerpt.dropFirst().filter { $0.first?.isNumber != true }
        XCTAssertTrue(out.contains(header), "header `\(header)` not in:\n\(r.stdout)")
        XCTAssertEqual(legend.count, 3)
        for line in legend { XCTAssertTrue(out.contains(line), "legend `\(line)` not in:\n\(r.stdout)") }
        // One row per quoted point, in the quoted order, with as many fields.
        let start = try XCTUnwrap(out.firstIndex(of: header))
        let rows = Array(out[(start + 1)...].prefix { $0.first?.isNumber == true })
        XCTAssertEqual(rows.map { $0.split(separator: " ").first }, quotedRows.map { $0.split(separator: " ").first })
        XCTAssertEqual(rows.map { $0.split(separator: " ").count }, quotedRows.map { $0.split(separator: " ").count })
        // The answer: 2.0 keeps drops under 1 %, 1.75 does not; more capacity never drops more.
        let columns = header.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let drop = try XCTUnwrap(columns.firstIndex(of: "drop"))
        var dropByFactor: [String: Double] = [:], previous = Double.infinity
        for row in rows {
            let fields = row.split(separator: " ").map(String.init)
            let d = try XCTUnwrap(Double(fields[drop].dropLast()), row)
            XCTAssertLessThanOrEqual(d, previous, row)
            dropByFactor[fields[0]] = d
            previous = d
        }
        XCTAssertLessThan(try XCTUnwrap(dropByFactor["2.0"]), 1.0)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(dropByFactor["1.75"]), 1.0)
        XCTAssertTrue(try section().contains { $0.hasPrefix("A capacity factor of 2.0:") })
    }

    func testQuestion2CompareShowsTheQuotedRowsAndTheReplicasShortenTheSlowestRank() throws {
        let (command, excerpt) = try blocks(question: 2)
        let args = try arguments(command)
        XCTAssertEqual(Array(args.prefix(3)), ["compare", "configs/mixtral-skewed.yaml", "configs/mixtral-skewed-replicas.yaml"])
        XCTAssertTrue(args.contains("--repeat"))
        let r = try CLI.epsim(args + short, timeout: 600)
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = r.stdout.components(separatedBy: "\n")
        let names = try XCTUnwrap(excerpt.first).split(separator: " ")
        XCTAssertTrue(out.contains { $0.split(separator: " ") == names }, "no column names \(names) in:\n\(r.stdout)")
        let found = matchLabels(excerpt, in: out)
        // The modeled slowest rank of the expert phase: a hot expert's rank (6 or 7)
        // without copies; a shorter one with them (modeled: reads no clock).
        let expert = try XCTUnwrap(found["modeled slowest rank: ms/expert"])
        let ranks = expert.split(separator: " ").filter { $0.hasPrefix("r") }.compactMap { Int($0.dropFirst()) }
        XCTAssertEqual(ranks.count, 2, expert)
        XCTAssertTrue([6, 7].contains(ranks.first ?? -1), expert)
        let ms = numbers(expert).enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        XCTAssertEqual(ms.count, 2, expert)
        XCTAssertLessThan(ms[1], ms[0], expert)
        // Rank imbalance falls, the expert imbalance and the drops do not change.
        let imbalance = numbers(try XCTUnwrap(found["imbalance expert/rank"]))
        XCTAssertEqual(imbalance.count, 4)
        XCTAssertLessThan(imbalance[3], imbalance[1])
        XCTAssertEqual(imbalance[2], imbalance[0])
        let drop = numbers(try XCTUnwrap(found["drop"]))
        XCTAssertEqual(drop.count, 2)
        XCTAssertEqual(drop.first, drop.last)
        // Fewer bytes between ranks: tokens on ranks 0 and 1 use their local copies.
        let between = numbers(try XCTUnwrap(found["bytes/between ranks"]))
        XCTAssertEqual(between.count, 2)
        XCTAssertLessThan(between[1], between[0])
    }

    func testQuestion3CompareOfResultFilesShowsTheQuotedRowsAndFewerBytesPerFormat() throws {
        let (command, excerpt) = try blocks(question: 3)
        let script = command.joined(separator: "\n")
        XCTAssertTrue(script.contains("for p in fp32 bf16 fp8_e4m3; do"), script)
        XCTAssertTrue(script.contains("--set precision.dispatch=$p"), script)
        XCTAssertTrue(script.contains("$E compare fp32.json bf16.json fp8_e4m3.json --system $S"), script)
        let system = "configs/systems/h100-8x-ib400.yaml"
        XCTAssertTrue(script.contains("S=\(system)"), script)
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String] = []
        for p in ["fp32", "bf16", "fp8_e4m3"] {
            let path = dir.appendingPathComponent("\(p).json").path
            let run = try CLI.epsim(["run", "--config", "configs/mixtral-skewed.yaml", "--emulate", "8", "--system", system,
                                     "--set", "precision.dispatch=\(p)", "--verify", "--output", path] + short, timeout: 600)
            XCTAssertEqual(run.status, 0, run.stderr)
            files.append(path)
        }
        let r = try CLI.epsim(["compare"] + files + ["--system", system])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = r.stdout.components(separatedBy: "\n")
        let names = try XCTUnwrap(excerpt.first).split(separator: " ")
        XCTAssertEqual(names, ["fp32.json", "bf16.json", "fp8_e4m3.json"])
        XCTAssertTrue(out.contains { $0.split(separator: " ") == names }, "no column names in:\n\(r.stdout)")
        let found = matchLabels(excerpt, in: out)
        // Each narrower format moves fewer bytes and dispatches faster (modeled); the
        // expert phase and the drops are the same.
        let between = numbers(try XCTUnwrap(found["bytes/between ranks"]))
        XCTAssertEqual(between.count, 3)
        XCTAssertTrue(between[0] > between[1] && between[1] > between[2], "\(between)")
        let dispatch = numbers(try XCTUnwrap(found["modeled ms (× first) on h100-8x-ib400/dispatch"]))
        XCTAssertEqual(dispatch.count, 6)  // ms and ratio per layout
        XCTAssertTrue(dispatch[0] > dispatch[2] && dispatch[2] > dispatch[4], "\(dispatch)")
        let expert = numbers(try XCTUnwrap(found["modeled ms (× first) on h100-8x-ib400/expert"]))
        XCTAssertEqual(expert.count, 6)
        XCTAssertTrue(expert[0] == expert[2] && expert[2] == expert[4], "\(expert)")
        let drop = numbers(try XCTUnwrap(found["drop"]))
        XCTAssertEqual(Set(drop).count, 1, "\(drop)")
        XCTAssertEqual(found["verify max rel error"].map { $0.components(separatedBy: "PASS").count - 1 }, 3)
    }
}
