/// The item analysis an instructor reads off the question report (issue 22), as Moodle's quiz statistics flag items:
/// a question nearly everyone gets right or nearly no one does, a wrong option no one chooses (it distracts no one),
/// and a question that the learners who do well overall miss more often than the ones who do badly (negative
/// discrimination: often a wrong key or an ambiguous prompt).
public enum ItemFlag: String, Sendable, CaseIterable {
    case tooEasy = "too easy"
    case tooHard = "too hard"
    case unusedDistractor = "a distractor nobody picks"
    case negativeDiscrimination = "negative discrimination"

    /// What the flag means and what to do, for the page's legend.
    public var advice: String {
        switch self {
        case .tooEasy: "More than 90 % of the learners answer it right: it tells them apart from nobody. Make it harder, or keep it as a warm-up."
        case .tooHard: "Fewer than 30 % answer it right: check the key, the wording, and whether it was taught."
        case .unusedDistractor: "A wrong option no learner chose: it does no work. Replace it with a mistake learners really make."
        case .negativeDiscrimination:
            "Learners who do well on the rest miss it more often than those who do badly: check the key and look for a second right answer."
        }
    }
}

public enum ItemAnalysis {
    /// Below this many learners' answers a question is not flagged: three answers say nothing about a question.
    public static let minimumLearners = 5
    public static let easyFacility = 0.9
    public static let hardFacility = 0.3

    /// The flags of one row of the question report (`QuestionReportRow`); none below `minimumLearners`.
    public static func flags(_ row: QuestionReportRow) -> [ItemFlag] {
        guard row.learners >= minimumLearners else { return [] }
        var flags: [ItemFlag] = []
        if let facility = row.facility {
            if facility > easyFacility { flags.append(.tooEasy) }
            if facility < hardFacility { flags.append(.tooHard) }
        }
        if row.options.contains(where: { !$0.correct && $0.chosen == 0 }) { flags.append(.unusedDistractor) }
        if let discrimination = row.discrimination, discrimination < 0 { flags.append(.negativeDiscrimination) }
        return flags
    }
}
