import Foundation
import XCTest

/// `--svg` on `run`, `sweep` and `compare` from the command line: each writes its picture
/// (the run's P² traffic cells and totals, the sweep's front, a compare of result files),
/// and a bad or clashing path is one line before anything runs.
final class SVGCommandTests: XCTestCase {
    private func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func testRunWritesItsPicture() throws {
        let dir = try CLI.temporaryDirectory()
        let svg = dir.appendingPathComponent("run.svg"), output = dir.appendingPathComponent("run.json")
        let run = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4", "--set", "steps=2",
                                 "--svg", svg.path, "--output", output.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let text = try String(contentsOf: svg, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("<?xml"))
        XCTAssertEqual(count("data-kind=\"cell\"", in: text), 16)
        XCTAssertEqual(count("class=\"colorbar\"", in: text), 1)
        XCTAssertEqual(count("data-kind=\"demand\"", in: text), 8)
        XCTAssertEqual(count("data-kind=\"capacity\"", in: text), 1)
        let json = try CLI.json(at: output)
        let traffic = try XCTUnwrap(json["traffic"] as? [String: Any])
        let total = try XCTUnwrap(traffic["total_bytes"] as? Int)
        XCTAssertGreaterThan(total, 0)
        // The picture's total is the result's, in the picture's units.
        var value = Double(total), unit = 0
        while value >= 1024 && unit < 3 { value /= 1024; unit += 1 }
        let shown = (value >= 100 ? String(Int(value.rounded())) : String((value * 10).rounded() / 10))
            .replacingOccurrences(of: ".0", with: "")
        XCTAssertTrue(text.contains(">total \(shown) \(["B", "KiB", "MiB", "GiB"][unit]) · between ranks"), shown)

        // A compare of two result files draws both, rows per rank included.
        let second = dir.appendingPathComponent("run2.json"), picture = dir.appendingPathComponent("cmp.svg")
        let again = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4", "--set", "steps=2",
                                   "--set", "overflow.policy=reroute", "--output", second.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        let compare = try CLI.epsim(["compare", output.path, second.path, "--svg", picture.path])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        let cmp = try String(contentsOf: picture, encoding: .utf8)
        XCTAssertEqual(count("data-kind=\"cell\"", in: cmp), 2 * 16)
        XCTAssertEqual(count("class=\"colorbar\"", in: cmp), 1)
        XCTAssertEqual(count("data-kind=\"load\"", in: cmp), 2 * 4)
        // The files carry per-rank means: bars of means that add up, no step mark, no "other".
        XCTAssertTrue(cmp.contains(">Measured on this host: each phase&apos;s mean over ranks"))
        XCTAssertEqual(count("data-kind=\"step-mark\"", in: cmp), 0)
        XCTAssertFalse(cmp.contains(">other<"))
    }

    func testSweepWritesItsPicture() throws {
        let dir = try CLI.temporaryDirectory()
        let svg = dir.appendingPathComponent("sweep.svg")
        let run = try CLI.epsim(["sweep", "--config", "configs/skewed.yaml", "--emulate", "4", "--set", "steps=2",
                                 "--vary", "overflow.policy=drop,reroute", "--svg", svg.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let text = try String(contentsOf: svg, encoding: .utf8)
        let front = run.stdout.split(separator: "\n").filter { $0.hasSuffix("*") }.count
        XCTAssertGreaterThanOrEqual(front, 1)
        XCTAssertEqual(count("data-kind=\"front-point\"", in: text), front)
        XCTAssertEqual(count("data-kind=\"front-point\"", in: text) + count("data-kind=\"point\"", in: text), 2)
        XCTAssertTrue(text.contains("overflow.policy=reroute"))
    }

    func testHelpNamesTheOption() throws {
        for command in ["run", "sweep", "compare"] {
            let help = try CLI.epsim([command, "--help"], environment: ["COLUMNS": "200"])
            XCTAssertTrue(help.stdout.contains("--svg <file>"), "\(command):\n\(help.stdout)")
            XCTAssertTrue(help.stdout.contains("SVG image"), "\(command):\n\(help.stdout)")
        }
    }

    func testBadOrClashingPathsAreOneLine() throws {
        let dir = try CLI.temporaryDirectory()
        let same = dir.appendingPathComponent("x.out").path
        let clash = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4", "--svg", same, "--output", same])
        XCTAssertNotEqual(clash.status, 0)
        XCTAssertTrue(clash.stderr.contains("--output and --svg both write"), clash.stderr)
        let sweep = try CLI.epsim(["sweep", "--config", "configs/skewed.yaml", "--emulate", "4",
                                   "--vary", "overflow.policy=drop,reroute", "--svg", same, "--csv", same])
        XCTAssertNotEqual(sweep.status, 0)
        XCTAssertTrue(sweep.stderr.contains("--csv and --svg both write"), sweep.stderr)
        let missing = try CLI.epsim(["run", "--config", "configs/skewed.yaml", "--emulate", "4",
                                     "--svg", dir.appendingPathComponent("missing/x.svg").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.epsimErrors.count, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("missing/x.svg: cannot write"), missing.stderr)
        XCTAssertEqual(missing.stdout, "", "nothing ran")
    }
}
