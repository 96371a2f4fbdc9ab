import XCTest

/// `router.compat` from the command line: a key beside the preset that changes its
/// value is named once, on stderr by `run` (rank 0 only, under mpirun too) and in
/// `validate`'s output; the run itself does as asked.
final class PresetCommandTests: XCTestCase {
    func testAKeyThatWinsOverThePresetIsNamedOnce() throws {
        // A copy of configs/default.yaml spells out weights and priority: with the
        // preset added, those two keys win over DeepSpeed's raw and slot_position.
        let config = try CLI.file("""
            tokens: 64
            model: {hidden: 32, ffn: 64, experts: 8, top_k: 2}
            router: {compat: deepspeed_top2, weights: softmax_topk}
            capacity: {priority: score}
            steps: 1
            warmup_steps: 0
            """, named: "copied.yaml")
        let note = "epsim: note: router.compat deepspeed_top2: router.weights softmax_topk, capacity.priority score "
            + "are set beside it and win over the preset's raw, slot_position (remove those keys to route as the peer does)"
        let run = try CLI.epsim(["run", "--config", config, "--emulate", "2"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.errorLines.filter { $0.hasPrefix("epsim: note:") }, [note])
        let mpi = try CLI.mpirun(2, ["run", "--config", config])
        XCTAssertEqual(mpi.status, 0, mpi.stderr)
        XCTAssertEqual(mpi.errorLines.filter { $0.hasPrefix("epsim: note:") }, [note])
        let validate = try CLI.epsim(["validate", "--config", config])
        XCTAssertEqual(validate.status, 0, validate.stderr)
        XCTAssertTrue(validate.stdout.contains("\nnote: router.compat deepspeed_top2: router.weights softmax_topk"), validate.stdout)
        // The preset alone: nothing to say.
        let clean = try CLI.epsim(["run", "--config", config, "--emulate", "2",
                                   "--set", "router.weights=raw", "--set", "capacity.priority=slot_position"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        XCTAssertFalse(clean.stderr.contains("epsim: note:"), clean.stderr)
    }
}
