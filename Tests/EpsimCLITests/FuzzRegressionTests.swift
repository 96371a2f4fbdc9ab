import Foundation
import XCTest

/// Valid layouts the fuzz suite once found failing `--verify`, each kept as the case it
/// was (seed 7 of FuzzTests), with the reason it failed.
final class FuzzRegressionTests: XCTestCase {
    private func verify(_ yaml: String, ranks: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let directory = try CLI.temporaryDirectory()
        let config = directory.appendingPathComponent("case.yaml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let result = directory.appendingPathComponent("r.json")
        let run = try CLI.epsim(["run", "--config", config.path, "--emulate", String(ranks), "--verify",
                                 "--output", result.path], file: file, line: line)
        XCTAssertEqual(run.status, 0, run.stderr + run.stdout, file: file, line: line)
        let verification = try XCTUnwrap(try CLI.json(at: result)["verification"] as? [String: Any])
        XCTAssertEqual(verification["decisions_match"] as? Bool, true, "\(verification)", file: file, line: line)
        XCTAssertEqual(verification["passed"] as? Bool, true, "\(verification)", file: file, line: line)
    }

    /// H 1: after the pre-norm every token's row is ±1, so many tokens' slot weights are
    /// equal or a last bit apart; the reference computed them in Double and admitted
    /// them to a full expert (priority `score`) in another order than the layer.
    func testNearlyTiedWeightsAreAdmittedInTheLayersOrder() throws {
        try verify("""
            tokens: [12, 0, 0]
            steps: 1
            warmup_steps: 1
            seed: 224172
            model: {hidden: 1, ffn: 16, experts: 6, top_k: 2, layers: 4}
            router: {score: softmax, weights: normalized}
            workload: gating
            capacity: {factor: 1, min_capacity: 4, scope: local, priority: score}
            overflow: {policy: reroute, max_reroutes: 2, reroute_scope: source_rank, renormalize: false}
            placement: {kind: explicit, ranks: [[1], [2, 4, 5], [0, 3]], replicas: [{expert: 2, ranks: [0]}]}
            precision: {dispatch: fp32, combine: fp8_e4m3}
            compute: {mode: modeled, tflops: 100, efficiency: 1}
            """, ranks: 3)
    }

    /// F 3: a small expert amplifies the bf16 rounding of its input beyond
    /// 2·(u_dispatch + u_combine) (0.018 against 0.0078); the reference now rounds what
    /// crosses the wire as the wire does.
    func testSmallExpertsAmplifyingDispatchRoundingStillVerify() throws {
        try verify("""
            tokens: [6, 6]
            steps: 1
            warmup_steps: 1
            seed: 283555
            model: {hidden: 8, ffn: 3, experts: 2, top_k: 1, layers: 2}
            router: {score: sigmoid, weights: softmax_topk}
            workload: {kind: zipf, exponent: 1.1}
            capacity: {factor: 1.25, scope: local, priority: score}
            overflow: {policy: drop}
            precision: {dispatch: bf16, combine: fp32}
            """, ranks: 2)
    }
}
