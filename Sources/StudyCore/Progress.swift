/// Where a learner stands on one question: the FSRS fold of its attempts, plus counts.
public struct QuestionProgress: Sendable, Hashable, Codable {
    public let questionID: String
    public let card: FSRS.Card
    public let attempts: Int
    public let correctAttempts: Int
    public let lastCorrect: Bool?
    public let lastAnsweredAt: Int64?
    /// The id of the last attempt folded, so a later fold can tell whether new attempts come after it.
    public let lastAttemptID: String?

    /// Mastered: in the review state with a stability of at least 21 days, Anki's "mature" threshold, so the learner is
    /// expected to recall it with 90 % probability three weeks after the last review.
    public var isMastered: Bool { card.state == .review && (card.stability ?? 0) >= Progress.masteredStability }

    public func isDue(at now: Int64) -> Bool { attempts > 0 && (card.due ?? .max) <= now }

    public init(
        questionID: String, card: FSRS.Card, attempts: Int, correctAttempts: Int, lastCorrect: Bool?, lastAnsweredAt: Int64?, lastAttemptID: String?
    ) {
        self.questionID = questionID
        self.card = card
        self.attempts = attempts
        self.correctAttempts = correctAttempts
        self.lastCorrect = lastCorrect
        self.lastAnsweredAt = lastAnsweredAt
        self.lastAttemptID = lastAttemptID
    }

    enum CodingKeys: String, CodingKey {
        case questionID = "questionId", card, attempts, correctAttempts, lastCorrect, lastAnsweredAt, lastAttemptID = "lastAttemptId"
    }
}

public enum Progress {
    public static let masteredStability = 21.0

    /// The rating an attempt gives: wrong is Again, right is Good.
    public static func rating(correct: Bool) -> FSRS.Rating { correct ? .good : .again }

    /// Progress on one question: its attempts, in any order, replayed in `(answeredAt, id)` order. Pure, so any two places
    /// holding the same attempts hold bit-identical progress.
    public static func fold(questionID: String, attempts: some Sequence<Attempt>, scheduler: FSRS = .standard) -> QuestionProgress {
        let page = Array(attempts)
        return fold(questionID: questionID, of: page, at: page.indices.filter { page[$0].questionID == questionID }, scheduler: scheduler)
    }

    /// `fold` of the attempts at `indices` of `page`, which are all at `questionID`; none is copied.
    public static func fold(questionID: String, of page: [Attempt], at indices: [Int], scheduler: FSRS = .standard) -> QuestionProgress {
        let empty = QuestionProgress(
            questionID: questionID, card: FSRS.Card(), attempts: 0, correctAttempts: 0, lastCorrect: nil, lastAnsweredAt: nil, lastAttemptID: nil)
        return extend(empty, with: page, at: inFoldOrder(page, indices), scheduler: scheduler)
    }

    /// Continues a fold with attempts that all come after the ones already folded, which gives the same result as
    /// folding everything again; nil when some new attempt sorts before the last one folded (fold from scratch then).
    public static func extendFold(_ progress: QuestionProgress, with attempts: some Sequence<Attempt>, scheduler: FSRS = .standard)
        -> QuestionProgress?
    {
        let page = Array(attempts)
        return extendFold(progress, with: page, at: page.indices.filter { page[$0].questionID == progress.questionID }, scheduler: scheduler)
    }

    /// `extendFold` with the attempts at `indices` of `page`, which are all at the progress's question; none is copied.
    public static func extendFold(_ progress: QuestionProgress, with page: [Attempt], at indices: [Int], scheduler: FSRS = .standard)
        -> QuestionProgress?
    {
        let ordered = inFoldOrder(page, indices)
        if let first = ordered.first, let lastTime = progress.lastAnsweredAt, let lastID = progress.lastAttemptID,
            (page[first].answeredAt, page[first].id) <= (lastTime, lastID)
        {
            return nil
        }
        return extend(progress, with: page, at: ordered, scheduler: scheduler)
    }

    /// The indices in fold order of the attempts they point at: as they are when they already are (a server's pages).
    private static func inFoldOrder(_ page: [Attempt], _ indices: [Int]) -> [Int] {
        Attempt.areInFoldOrder(page, at: indices) ? indices : indices.sorted { Attempt.foldOrder(page[$0], page[$1]) }
    }

    private static func extend(_ progress: QuestionProgress, with page: [Attempt], at ordered: [Int], scheduler: FSRS) -> QuestionProgress {
        var card = progress.card
        var correct = 0
        // By index: iterating the array would copy each attempt (its strings' reference counts up and down).
        for i in ordered {
            card = scheduler.review(card, rating: rating(correct: page[i].correct), at: page[i].answeredAt)
            if page[i].correct { correct += 1 }
        }
        let last = ordered.last.map { page[$0] }
        return QuestionProgress(
            questionID: progress.questionID, card: card, attempts: progress.attempts + ordered.count,
            correctAttempts: progress.correctAttempts + correct, lastCorrect: last?.correct ?? progress.lastCorrect,
            lastAnsweredAt: last?.answeredAt ?? progress.lastAnsweredAt, lastAttemptID: last?.id ?? progress.lastAttemptID)
    }

    /// Progress on every question that has attempts, keyed by question id.
    public static func foldAll(_ attempts: some Sequence<Attempt>, scheduler: FSRS = .standard) -> [String: QuestionProgress] {
        Dictionary(grouping: attempts, by: \.questionID).reduce(into: [:]) { result, entry in
            result[entry.key] = fold(questionID: entry.key, attempts: entry.value, scheduler: scheduler)
        }
    }
}

/// A deck's totals for `study progress`.
public struct DeckSummary: Sendable, Hashable, Encodable {
    public let deckID: String
    public let deck: String
    public let questions: Int
    public let answered: Int
    public let attempts: Int
    public let correctAttempts: Int
    public let mastered: Int
    public let dueNow: Int
    /// The earliest due time in the future, epoch milliseconds; nil when nothing has been answered.
    public let nextDue: Int64?

    public var accuracy: Double? { attempts == 0 ? nil : Double(correctAttempts) / Double(attempts) }

    public init(deck: Deck, progress: [String: QuestionProgress], now: Int64) {
        let known = deck.questions.compactMap { progress[$0.id] }
        self.deckID = deck.id
        self.deck = deck.name
        self.questions = deck.questions.count
        self.answered = known.count
        self.attempts = known.reduce(0) { $0 + $1.attempts }
        self.correctAttempts = known.reduce(0) { $0 + $1.correctAttempts }
        self.mastered = known.count(where: \.isMastered)
        self.dueNow = known.count(where: { $0.isDue(at: now) })
        self.nextDue = known.compactMap(\.card.due).filter { $0 > now }.min()
    }

    enum CodingKeys: String, CodingKey {
        case deckID = "deckId", deck, questions, answered, attempts, correctAttempts, mastered, dueNow, nextDue, accuracy
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(deckID, forKey: .deckID)
        try c.encode(deck, forKey: .deck)
        try c.encode(questions, forKey: .questions)
        try c.encode(answered, forKey: .answered)
        try c.encode(attempts, forKey: .attempts)
        try c.encode(correctAttempts, forKey: .correctAttempts)
        try c.encode(mastered, forKey: .mastered)
        try c.encode(dueNow, forKey: .dueNow)
        try c.encode(nextDue, forKey: .nextDue)
        try c.encode(accuracy, forKey: .accuracy)
    }
}
