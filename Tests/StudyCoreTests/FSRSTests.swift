import Foundation
import Testing

@testable import StudyCore

/// Golden review logs written by scripts/fsrs/generate_fixtures.py with the reference `fsrs` 6.3.2.
struct GoldenFixture: Decodable {
    struct Review: Decodable {
        let answeredAt: Int64
        let correct: Bool
        let state: Int
        let step: Int?
        let stability: Double
        let difficulty: Double
        let due: Int64
        let probeAt: Int64
        let retrievability: Double
    }
    let logs: [[Review]]

    /// The committed fixtures, or the file named by `FSRS_FIXTURE` (to check logs generated with another seed).
    static func load() throws -> GoldenFixture {
        let override = ProcessInfo.processInfo.environment["FSRS_FIXTURE"].map { URL(fileURLWithPath: $0) }
        let url = try #require(override ?? Bundle.module.url(forResource: "fsrs-golden", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(GoldenFixture.self, from: Data(contentsOf: url))
    }
}

func relativelyClose(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
    abs(a - b) <= tolerance * max(abs(a), abs(b), 1e-300)
}

@Suite struct FSRSTests {
    @Test func matchesTheReferenceSchedulerOnEveryGoldenReview() throws {
        let fixture = try GoldenFixture.load()
        #expect(fixture.logs.count >= 200)
        var checked = 0
        for log in fixture.logs {
            var card = FSRS.Card()
            for review in log {
                card = FSRS.standard.review(card, rating: review.correct ? .good : .again, at: review.answeredAt)
                #expect(card.state.rawValue == review.state)
                #expect(card.step == review.step)
                #expect(card.due == review.due)
                #expect(relativelyClose(card.stability!, review.stability), "stability \(card.stability!) vs \(review.stability)")
                #expect(relativelyClose(card.difficulty!, review.difficulty), "difficulty \(card.difficulty!) vs \(review.difficulty)")
                #expect(relativelyClose(FSRS.standard.retrievability(of: card, at: review.probeAt), review.retrievability))
                checked += 1
            }
        }
        #expect(checked > 2000)
    }

    @Test func theFoldOfTheGoldenLogsIsIndependentOfArrivalOrder() throws {
        let fixture = try GoldenFixture.load()
        for (n, log) in fixture.logs.prefix(50).enumerated() {
            let attempts = log.enumerated().map { i, r in
                Attempt(
                    id: String(format: "00000000-0000-0000-0000-%012d", i), deviceID: "d", questionID: "q\(n)", questionVersion: "v", chosen: [0],
                    correct: r.correct, answeredAt: r.answeredAt, durationMs: 1000, sessionID: "s")
            }
            let forward = Progress.fold(questionID: "q\(n)", attempts: attempts)
            let backward = Progress.fold(questionID: "q\(n)", attempts: attempts.reversed())
            #expect(forward == backward)
            #expect(forward.card.due == log.last!.due)
            #expect(forward.attempts == log.count)
        }
    }

    @Test func aFirstWrongAnswerIsDueAgainInOneMinuteAndAFirstRightOneInTen() {
        let wrong = FSRS.standard.review(FSRS.Card(), rating: .again, at: 0)
        #expect(wrong.due == 60_000 && wrong.state == .learning && wrong.step == 0)
        let right = FSRS.standard.review(FSRS.Card(), rating: .good, at: 0)
        #expect(right.due == 600_000 && right.step == 1)
        let graduated = FSRS.standard.review(right, rating: .good, at: 600_000)
        #expect(graduated.state == .review && graduated.step == nil)
    }

    @Test func intervalsRoundHalfToEvenLikePython() {
        // At the default retention of 0.9 the interval in days equals the stability, so halves show the rounding rule.
        #expect(FSRS.standard.nextIntervalDays(2.5) == 2)
        #expect(FSRS.standard.nextIntervalDays(3.5) == 4)
        #expect(FSRS.standard.nextIntervalDays(0.2) == 1)
        #expect(FSRS.standard.nextIntervalDays(1e9) == 36500)
    }
}
