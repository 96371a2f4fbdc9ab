import Foundation
import XCTest

/// A failure of one rank ends the run with one line naming the rank, the same on both
/// transports (`epsim: error: rank r: ...`), and without the rank in a world of one.
final class RankFailureLineTests: XCTestCase {
    private let small = ["--set", "ranks=2", "--set", "steps=1", "--set", "warmup_steps=0", "--set", "tokens=16"]

    /// /dev/full opens (the outputs are checked by every rank before the run) and
    /// refuses the write, which only rank 0 makes, after the run: a failure of rank 0
    /// alone, while its peers have finished.
    func testAFailureOfOneRankIsTheSameLineOnBothTransports() throws {
        let expected = ["epsim: error: rank 0: /dev/full: cannot write: No space left on device"]
        let emulated = try CLI.epsim(["run", "--config", "configs/default.yaml", "--emulate", "2",
                                      "--output", "/dev/full"] + small)
        XCTAssertEqual(emulated.status, 1)
        XCTAssertEqual(emulated.errorLines, expected)

        let mpi = try CLI.mpirun(2, ["run", "--config", "configs/default.yaml", "--output", "/dev/full"] + small,
                                 timeout: 90)
        XCTAssertNotEqual(mpi.status, 0)
        // Open MPI's notice of the abort follows epsim's one line.
        XCTAssertEqual(mpi.epsimErrors, expected, mpi.stderr)
        XCTAssertEqual(mpi.errorLines.first, expected.first, mpi.stderr)

        let alone = try CLI.epsim(["run", "--config", "configs/default.yaml", "--output", "/dev/full"]
                                  + small + ["--set", "ranks=1"])
        XCTAssertEqual(alone.status, 1)
        XCTAssertEqual(alone.errorLines, ["epsim: error: /dev/full: cannot write: No space left on device"])
    }
}
