import Testing

@testable import StudyCore

@Suite struct QuizPlanTests {
    let deck = Deck(name: "d", questions: (0..<5).map { Question(prompt: "Q\($0)?", options: ["a", "b"], correct: [0]) })

    func attempt(_ q: Int, correct: Bool, at t: Int64) -> Attempt {
        Attempt(
            id: "00000000-0000-0000-0000-00000000000\(q)", deviceID: "d", questionID: deck.questions[q].id,
            questionVersion: deck.questions[q].version,
            chosen: [correct ? 0 : 1], correct: correct, answeredAt: t, durationMs: 500, sessionID: "s")
    }

    @Test func dueModeAsksDueQuestionsFirstThenNewOnes() {
        let progress = Progress.foldAll([attempt(3, correct: false, at: 0), attempt(1, correct: true, at: 0)])
        var rng = SeededGenerator(seed: 1)
        // At 2 minutes only the wrong answer (due after 1 minute) is due; the right one is due after 10.
        let plan = QuizPlan.select(deck: deck, progress: progress, mode: .due, count: 3, now: 120_000, using: &rng)
        #expect(plan.map(\.prompt) == ["Q3?", "Q0?", "Q2?"])
        let wrong = QuizPlan.select(deck: deck, progress: progress, mode: .wrong, count: 10, now: 0, using: &rng)
        #expect(wrong.map(\.prompt) == ["Q3?"])
        let new = QuizPlan.select(deck: deck, progress: progress, mode: .new, count: 10, now: 0, using: &rng)
        #expect(new.map(\.prompt) == ["Q0?", "Q2?", "Q4?"])
    }

    @Test func theSameSeedGivesTheSameOrder() {
        var a = SeededGenerator(seed: 42)
        var b = SeededGenerator(seed: 42)
        let first = QuizPlan.select(deck: deck, progress: [:], mode: .all, count: 5, now: 0, using: &a).map(\.id)
        #expect(first == QuizPlan.select(deck: deck, progress: [:], mode: .all, count: 5, now: 0, using: &b).map(\.id))
        #expect(Set(first) == Set(deck.questions.map(\.id)))
    }

    @Test func answersAreReadAsLetters() {
        #expect(AnswerInput.parse(" b ", optionCount: 4, multipleAnswer: false) == .choice([1]))
        #expect(AnswerInput.parse("Q", optionCount: 4, multipleAnswer: false) == .quit)
        #expect(AnswerInput.parse("e", optionCount: 4, multipleAnswer: false) == .invalid)
        #expect(AnswerInput.parse("ab", optionCount: 4, multipleAnswer: false) == .invalid)
        #expect(AnswerInput.parse("", optionCount: 4, multipleAnswer: false) == .invalid)
        #expect(AnswerInput.parse("c, A", optionCount: 4, multipleAnswer: true) == .choice([0, 2]))
    }

    @Test func theHybridClockNeverRunsBackwards() {
        var clock = HybridClock(last: 1_000)
        #expect(clock.stamp(wallClock: 500) == 1_001)
        #expect(clock.stamp(wallClock: 1_001) == 1_002)
        #expect(clock.stamp(wallClock: 5_000) == 5_000)
    }

    @Test func attemptsWithTheSameStampFoldInIdOrder() {
        let q = deck.questions[0]
        let a = Attempt(
            id: "00000000-0000-0000-0000-00000000000a", deviceID: "x", questionID: q.id, questionVersion: q.version, chosen: [1], correct: false,
            answeredAt: 5, durationMs: 1, sessionID: "s")
        let b = Attempt(
            id: "00000000-0000-0000-0000-00000000000b", deviceID: "y", questionID: q.id, questionVersion: q.version, chosen: [0], correct: true,
            answeredAt: 5, durationMs: 1, sessionID: "s")
        #expect(Progress.fold(questionID: q.id, attempts: [a, b]) == Progress.fold(questionID: q.id, attempts: [b, a]))
        #expect(Progress.fold(questionID: q.id, attempts: [b, a]).lastCorrect == true)
    }

    @Test func extendingAFoldEqualsFoldingEverythingAndRefusesEarlierAttempts() {
        let early = (0..<4).map { attempt($0 % 2 == 0 ? 0 : 1, correct: $0 != 1, at: Int64($0) * 700_000) }
        let late = [attempt(0, correct: true, at: 9_000_000)]
        let base = Progress.fold(questionID: deck.questions[0].id, attempts: early)
        #expect(Progress.extendFold(base, with: late) == Progress.fold(questionID: deck.questions[0].id, attempts: early + late))
        #expect(Progress.extendFold(base, with: [attempt(0, correct: true, at: 1)]) == nil)
    }

    @Test func malformedAttemptsAreNamed() {
        let bad = Attempt(
            id: "nope", deviceID: "", questionID: "q", questionVersion: "v", chosen: [], correct: true, answeredAt: -1, durationMs: 0, sessionID: "s")
        #expect(
            bad.problems == [
                "id must be a UUID", "deviceId must be a UUID", "chosen must list option indexes from 0 to 9",
                "answeredAt must be epoch milliseconds from 0 to 253402300799999", "sessionId must be a UUID",
            ])
    }

    @Test(arguments: [
        ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", true), ("0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", true),
        ("0190a1b2c3d4-7e5f-8a9b-0c1d2e3f4a5b-", false), ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5", false),
        ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5bb", false), ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g", false),
        ("0190a1b2-c3d4-7e5f-8a9b_0c1d2e3f4a5b", false), ("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4aé", false), ("", false),
    ])
    func uuidSpelling(_ text: String, _ valid: Bool) {
        #expect(Attempt.isUUID(text) == valid)
    }
}
