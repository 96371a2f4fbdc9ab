import XCTest
@testable import EpsimCore

/// Top-k on logits, not on rounded probabilities: each case replays a trace written by
/// the test (`routeTrace` also checks the fast router against the reference on it) and
/// is one where float32 scores tie although the logits do not, so ranking by the score
/// would pick differently.
extension RouterTests {
    func testSoftmaxUnderflowRanksByLogit() throws {
        // Probabilities of experts 1, 2, 3 all underflow to 0: by score and index the
        // second choice would be expert 1 (logit -10); Megatron-Core and DeepSpeed take 2.
        let out = try routeTrace([[120, -10, 0, 0]], topK: 2)
        XCTAssertEqual(out.scores[1], 0)
        XCTAssertEqual(out.scores[2], 0, "the float scores tie; only the logits tell 2 from 1")
        XCTAssertEqual(Array(out.chosen(token: 0)), [0, 2])
        XCTAssertEqual(Array(out.preference(token: 0)), [0, 2, 3, 1], "rerouting walks the logit order too")
    }

    func testLogitsCloserThanAProbabilityUlpRankByLogit() throws {
        let out = try routeTrace([[0, 1e-8, 2e-8]], topK: 1)
        XCTAssertEqual(Set(out.scores).count, 1, "all three probabilities round to the same float")
        XCTAssertEqual(Array(out.chosen(token: 0)), [2])
        XCTAssertEqual(Array(out.preference(token: 0)), [2, 1, 0])
        XCTAssertEqual(out.weights[0], 1, "the weight goes to the expert it belongs to")
    }

    func testSigmoidSaturationRanksByLogit() throws {
        let out = try routeTrace([[17, 20]], topK: 1, score: .sigmoid, weights: .raw)
        XCTAssertEqual(out.scores, [1, 1], "sigmoid(17) and sigmoid(20) are both 1.0 in float32")
        XCTAssertEqual(Array(out.chosen(token: 0)), [1])
    }

    func testEqualLogitsStillGoToTheLowerIndex() throws {
        XCTAssertEqual(Array(try routeTrace([[1, 3, 3, 3]], topK: 2).preference(token: 0)), [1, 2, 3, 0])
        XCTAssertEqual(Array(try routeTrace([[5, 5]], topK: 1, score: .sigmoid).chosen(token: 0)), [0])
    }

    func testBiasIsAddedToTheScoreInDouble() throws {
        // sigmoid(17) + 1e-9 < sigmoid(20) in Double, while in float32 1.0 + 1e-9 == 1.0
        // would tie and give expert 0; a bias of 1e-7 does lift expert 0 above expert 1.
        let small = try routeTrace([[17, 20]], topK: 1, score: .sigmoid, bias: [1e-9, 0])
        XCTAssertEqual(Array(small.chosen(token: 0)), [1])
        let large = try routeTrace([[17, 20]], topK: 1, score: .sigmoid, bias: [1e-7, 0])
        XCTAssertEqual(Array(large.chosen(token: 0)), [0])
        XCTAssertEqual(large.weights, [large.scores[0]], "the bias never enters a weight")
    }

    func testBiasedTiesAreOrderedByLogit() throws {
        // exp(-900) and exp(-1000) underflow even in Double: score + bias ties at 0.5
        // for experts 1 and 2, and the logit (100 > 0) decides, not the index.
        let out = try routeTrace([[1000, 0, 100]], topK: 2, bias: [0, 0.5, 0.5])
        XCTAssertEqual(Array(out.preference(token: 0)), [0, 2, 1])
        // Equal score + bias and equal logits: the lower index.
        let tied = try routeTrace([[3, 3, 3]], topK: 1, bias: [0.5, 0, 0.5])
        XCTAssertEqual(Array(tied.preference(token: 0)), [0, 2, 1])
    }

    func testGroupScoresUseTheSameLosslessValues() throws {
        // Groups {0, 1} and {2, 3}. In float32 every sigmoid here is 1.0, both group sums
        // are 2.0 and group 0 would win (expert 0, the best logit). In Double group 1's
        // top-2 sum, 2·sigmoid(19), beats sigmoid(21) + sigmoid(16).
        let out = try routeTrace([[21, 16, 19, 19]], topK: 1, score: .sigmoid, groups: 2, groupsPerToken: 1)
        XCTAssertEqual(Array(out.chosen(token: 0)), [2])
        XCTAssertEqual(Array(out.preference(token: 0)), [2, 0, 3, 1], "then every expert in logit order")
    }

    func testAZeroBiasRanksExactlyAsNoBias() throws {
        let rows: [[Float]] = [[120, -10, 0, 0], [1000, 0, 100, 100], [17, 20, 20, -3]]
        for score in ScoreFunction.allCases {
            let none = try routeTrace(rows, topK: 2, score: score)
            let zero = try routeTrace(rows, topK: 2, score: score, bias: [0, 0, 0, 0])
            XCTAssertEqual(none.preference, zero.preference, "\(score)")
        }
    }
}
