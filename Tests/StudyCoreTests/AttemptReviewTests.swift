import StudyCore
import Testing

/// The server's plausibility flags (PROTOCOL.md), checked by hand on one page and against a plain restatement of the rules
/// on random pages: out of order, several devices interleaved, unknown versions.
struct AttemptReviewTests {
    static let question = Question(prompt: "Which?", options: ["a", "b", "c"], correct: [1])
    static let questions = [AttemptReview.key(question.id, question.version): question]
    static let laptop = "00000000-0000-4000-8000-00000000000a", desktop = "00000000-0000-4000-8000-00000000000d"

    static func attempt(
        _ n: Int, at time: Int64, device: String = laptop, chosen: [Int] = [1], correct: Bool = true, duration: Int64 = 4_000,
        version: String = question.version
    ) -> Attempt {
        Attempt(
            id: "00000000-0000-4000-8000-\(String(1_000_000_000_000 + n).suffix(12))", deviceID: device, questionID: question.id,
            questionVersion: version,
            chosen: chosen, correct: correct, answeredAt: time, durationMs: duration, sessionID: laptop)
    }

    @Test func eachRuleFlagsItsAttemptOnly() {
        let page = [
            Self.attempt(1, at: 10_000),
            Self.attempt(2, at: 10_500, device: Self.desktop),  // another device half a second later: no burst
            Self.attempt(3, at: 10_900),  // 900 ms after the laptop's last: burst
            Self.attempt(4, at: 20_000, chosen: [0], correct: true),  // graded right by the client, wrong by the server
            Self.attempt(5, at: 30_000, chosen: [7], correct: false),  // an option the question does not have
            Self.attempt(6, at: 40_000, version: "v-unknown"),
            Self.attempt(7, at: 50_000, duration: 999),
            Self.attempt(8, at: 10_000_000),  // later than the server's clock allows
        ]
        // Out of order on arrival: the rules apply in answer order.
        let shuffled = [page[2], page[0], page[7], page[1], page[4], page[3], page[6], page[5]]
        let flags = AttemptReview.flags(for: shuffled, questions: Self.questions, serverTime: 10_000_000 - AttemptRules.clockTolerance - 1)
        #expect(flags == [[.burst], [], [.clockSkew, .ahead], [], [.gradeMismatch], [.gradeMismatch], [.tooFast], [.unknownQuestion]])
    }

    @Test(arguments: 1...20)
    func agreesWithThePlainRulesOnRandomPages(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let devices = [Self.laptop, Self.desktop, "00000000-0000-4000-8000-00000000000e"]
        let page = (0..<200).map { n in
            Self.attempt(
                n, at: Int64.random(in: 0..<100_000, using: &rng), device: devices.randomElement(using: &rng)!,
                chosen: [Int.random(in: 0..<4, using: &rng)],
                correct: Bool.random(using: &rng), duration: Int64.random(in: 500..<3_000, using: &rng),
                version: Int.random(in: 0..<10, using: &rng) == 0 ? "old" : Self.question.version)
        }
        let sorted = page.sorted(by: Attempt.foldOrder)
        for input in [page, sorted] {
            #expect(AttemptReview.flags(for: input, questions: Self.questions, serverTime: 50_000) == Self.plainRules(input, serverTime: 50_000))
        }
    }

    /// The rules as PROTOCOL.md states them, without any of the implementation's shortcuts.
    static func plainRules(_ attempts: [Attempt], serverTime: Int64) -> [AttemptFlags] {
        var flags = [AttemptFlags](repeating: [], count: attempts.count)
        var last: [String: Int64] = [:]
        for index in attempts.indices.sorted(by: { Attempt.foldOrder(attempts[$0], attempts[$1]) }) {
            let a = attempts[index]
            if let q = questions[AttemptReview.key(a.questionID, a.questionVersion)] {
                let right = Set(a.chosen) == Set(q.correct)
                if right != a.correct || a.chosen.contains(where: { $0 >= q.options.count }) { flags[index].insert(.gradeMismatch) }
            } else {
                flags[index].insert(.unknownQuestion)
            }
            if a.durationMs < AttemptReview.minimumDurationMs { flags[index].insert(.tooFast) }
            if let previous = last[a.deviceID], a.answeredAt - previous < AttemptReview.burstGapMs { flags[index].insert(.burst) }
            last[a.deviceID] = a.answeredAt
            if a.answeredAt > serverTime + AttemptRules.clockTolerance { flags[index].insert(.clockSkew) }
        }
        return flags
    }
}
