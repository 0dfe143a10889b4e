import StudyCore
import Testing

/// The question report's flags (issue 22), at and around each threshold.
struct ItemAnalysisTests {
    func row(learners: Int, facility: Double?, discrimination: Double?, chosen: [Int], correct: Int = 0) -> QuestionReportRow {
        QuestionReportRow(
            deckID: "d", position: 0, questionID: "q", prompt: "?", learners: learners, attempts: learners, facility: facility,
            discrimination: discrimination,
            options: chosen.enumerated().map { .init(text: "o\($0.offset)", correct: $0.offset == correct, chosen: $0.element) },
            medianDurationMs: nil)
    }

    @Test func eachFlagAtItsThreshold() {
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.95, discrimination: 0.3, chosen: [9, 1])) == [.tooEasy])
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.9, discrimination: 0.3, chosen: [9, 1])) == [])
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.3, discrimination: 0.3, chosen: [3, 7])) == [])
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.2, discrimination: 0.3, chosen: [2, 8])) == [.tooHard])
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.5, discrimination: 0.3, chosen: [5, 5, 0])) == [.unusedDistractor])
        // An unchosen correct option is no distractor.
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.5, discrimination: 0.3, chosen: [5, 5, 0], correct: 2)) == [])
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.5, discrimination: -0.01, chosen: [5, 5])) == [.negativeDiscrimination])
        #expect(ItemAnalysis.flags(row(learners: 10, facility: 0.5, discrimination: 0, chosen: [5, 5])) == [])
        #expect(
            ItemAnalysis.flags(row(learners: 10, facility: 0.1, discrimination: -0.4, chosen: [1, 9, 0]))
                == [.tooHard, .unusedDistractor, .negativeDiscrimination])
    }

    @Test func tooFewLearnersAreNeverFlagged() {
        #expect(ItemAnalysis.flags(row(learners: ItemAnalysis.minimumLearners - 1, facility: 0, discrimination: -1, chosen: [0, 4, 0])) == [])
        #expect(
            ItemAnalysis.flags(row(learners: ItemAnalysis.minimumLearners, facility: 1, discrimination: nil, chosen: [5, 0])) == [
                .tooEasy, .unusedDistractor,
            ])
    }
}
