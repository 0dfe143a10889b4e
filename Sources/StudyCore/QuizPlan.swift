/// Which questions a quiz asks, in which order: a pure decision over a deck and the learner's progress.
public enum QuizMode: String, Sendable, CaseIterable {
    /// Questions due now (earliest first), then new ones in deck order.
    case due
    /// Questions never answered, in deck order.
    case new
    /// Questions whose latest answer was wrong, earliest due first.
    case wrong
    /// Every question, shuffled.
    case all
}

public enum QuizPlan {
    public static func select<R: RandomNumberGenerator>(
        deck: Deck, progress: [String: QuestionProgress], mode: QuizMode, count: Int, now: Int64, using rng: inout R
    ) -> [Question] {
        let byDue = { (a: Question, b: Question) -> Bool in
            (progress[a.id]?.card.due ?? .max, a.id) < (progress[b.id]?.card.due ?? .max, b.id)
        }
        let new = deck.questions.filter { progress[$0.id] == nil }
        let chosen: [Question]
        switch mode {
        case .due: chosen = deck.questions.filter { progress[$0.id]?.isDue(at: now) == true }.sorted(by: byDue) + new
        case .new: chosen = new
        case .wrong: chosen = deck.questions.filter { progress[$0.id]?.lastCorrect == false }.sorted(by: byDue)
        case .all: chosen = deck.questions.shuffled(using: &rng)
        }
        return Array(chosen.prefix(max(0, count)))
    }

    /// The order the options of `question` are shown in: a permutation of canonical indexes.
    public static func optionOrder<R: RandomNumberGenerator>(for question: Question, using rng: inout R) -> [Int] {
        Array(question.options.indices).shuffled(using: &rng)
    }
}

/// SplitMix64: a small seedable generator, so `--seed` makes a quiz's order reproducible on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Reads a learner's typed answer: letters (any case, spaces or commas between them) naming shown options.
public enum AnswerInput {
    public enum Parsed: Equatable, Sendable {
        case quit
        /// Positions in the shown order, ascending.
        case choice([Int])
        case invalid
    }

    public static func parse(_ line: String, optionCount: Int, multipleAnswer: Bool) -> Parsed {
        let text = line.trimmingWhitespace().lowercased()
        if text == "q" || text == "quit" { return .quit }
        let letters = text.filter { !$0.isWhitespace && $0 != "," }
        guard !letters.isEmpty else { return .invalid }
        var positions: [Int] = []
        for letter in letters {
            guard let ascii = letter.asciiValue, ascii >= 97, Int(ascii) - 97 < optionCount else { return .invalid }
            positions.append(Int(ascii) - 97)
        }
        let unique = Array(Set(positions)).sorted()
        if !multipleAnswer && unique.count != 1 { return .invalid }
        return .choice(unique)
    }

    public static func letter(_ position: Int) -> String { String(UnicodeScalar(UInt8(65 + position))) }
}
