import Foundation
import XCTest

/// `epsim validate-model --host`: calibrates on the run's transport and prints each
/// layout's measured and modeled parts. Times on a shared machine are a benchmark's
/// business (the bounds are checked by running the command, docs/model.md), so this
/// test holds what does not depend on the machine's speed: every layout and part is
/// printed with finite figures, the verdict line agrees with the rows, and the exit
/// status with the verdict.
final class HostModelTests: XCTestCase {
    private struct Part { var measured: Double; var modeled: Double; var error: Double }

    /// "0.151 → 0.167 (+10.96%)" cells of one layout row.
    private func parts(of line: Substring) -> [Part] {
        let pattern = try! NSRegularExpression(pattern: #"([0-9.]+) → ([0-9.]+) \(([+-]?[0-9.]+)%\)"#)
        let text = String(line)
        return pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
            func group(_ i: Int) -> Double { Double(text[Range(m.range(at: i), in: text)!])! }
            return Part(measured: group(1), modeled: group(2), error: group(3) / 100)
        }
    }

    func testEmulatedHostValidationPrintsEveryLayoutAndAConsistentVerdict() throws {
        let run = try CLI.epsim(["validate-model", "--host", "--emulate", "2", "--quick", "--steps", "3"], timeout: 300)
        XCTAssertTrue(run.status == 0 || run.status == 1, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertTrue(lines.first?.hasPrefix("calibrated on 2 ranks (emulated)") ?? false, run.stdout)
        // The host's load before calibrating, as calibrate prints it (a busy host is warned of).
        XCTAssertTrue(lines.count > 1 && lines[1].hasPrefix("load average"), run.stdout)
        var medians: [Double] = [], maxima: [Double] = []
        for layout in ["uniform", "zipf 1.2", "hot expert, dropless", "zipf, expert 0 on every rank"] {
            let row = try XCTUnwrap(lines.first { $0.hasPrefix(layout) }, "\(layout) missing:\n\(run.stdout)")
            let cells = parts(of: row)
            XCTAssertEqual(cells.count, 3, String(row))
            for c in cells {
                XCTAssertTrue(c.measured > 0 && c.modeled > 0, String(row))
                XCTAssertEqual(c.error, (c.modeled - c.measured) / c.measured, accuracy: 0.01 + 0.002 / c.measured,
                               String(row))
            }
        }
        for part in ["dispatch+combine", "expert", "permute+unpermute"] {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix(part + ": median |error|") }, run.stdout)
            let numbers = line.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "%,"))) }
            XCTAssertGreaterThanOrEqual(numbers.count, 2, String(line))
            medians.append(numbers[0] / 100)
            maxima.append(numbers[1] / 100)
        }
        // The two exchanges apart: per layout, named, measured → modeled ms and the error
        // of each, the error what the two times give.
        let apart = try XCTUnwrap(lines.first { $0.hasPrefix("dispatch / combine apart (ms; not bounded on their own): ") },
                                  run.stdout)
        let pieces = apart.split(separator: ":", maxSplits: 1).last.map { $0.split(separator: ";") } ?? []
        for layout in ["uniform", "zipf 1.2", "hot expert, dropless", "zipf, expert 0 on every rank"] {
            let piece = try XCTUnwrap(pieces.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(layout + " ") },
                                      "\(layout) in \(apart)")
            let cells = parts(of: piece)
            XCTAssertEqual(cells.count, 2, String(piece))
            for c in cells where c.measured > 0 {
                XCTAssertEqual(c.error, (c.modeled - c.measured) / c.measured, accuracy: 0.01 + 0.002 / c.measured, String(piece))
            }
        }
        let met = medians.allSatisfy { $0 <= 0.15 } && maxima.allSatisfy { $0 <= 0.35 }
        XCTAssertTrue(run.stdout.contains("per part: " + (met ? "met" : "NOT MET")), run.stdout)
        XCTAssertEqual(run.status, met ? 0 : 1, run.stdout)
    }

    func testHostOptionsAreChecked() throws {
        for (arguments, needle) in [(["validate-model", "--emulate", "2"], "--emulate: only with --host"),
                                    (["validate-model", "--steps", "3"], "--steps: only with --host"),
                                    (["validate-model", "--steps", "40"], "--steps: only with --host"),
                                    (["validate-model", "--host", "--emulate", "1"], "needs at least 2"),
                                    (["validate-model", "--host", "--emulate", "2", "--steps", "0"], "--steps")] {
            let run = try CLI.epsim(arguments)
            XCTAssertNotEqual(run.status, 0, arguments.joined(separator: " "))
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains(needle), run.stderr)
        }
    }
}
