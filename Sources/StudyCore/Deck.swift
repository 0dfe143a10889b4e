import Foundation

/// One multiple-choice question. Its identity is derived from its text (see `QuestionIdentity`), never assigned.
public struct Question: Sendable, Hashable, Codable {
    /// The prompt; paragraphs are separated by a blank line.
    public let prompt: String
    public let options: [String]
    /// Canonical indexes of the correct options, ascending; more than one makes a "choose all that apply" question.
    public let correct: [Int]
    public let id: String
    public let version: String

    public init(prompt: String, options: [String], correct: [Int]) {
        self.prompt = prompt
        self.options = options
        self.correct = Array(Set(correct)).sorted()
        self.id = QuestionIdentity.id(prompt: prompt)
        self.version = QuestionIdentity.version(options: options, correct: self.correct)
    }

    public var isMultipleAnswer: Bool { correct.count > 1 }

    /// Grades a choice of canonical option indexes: right only when it is exactly the set of correct options.
    public func grade(_ chosen: [Int]) -> Bool {
        // `correct` is ascending without repeats, so a canonical choice (an attempt's always is) is compared as it is.
        let canonical = chosen.indices.dropFirst().allSatisfy { chosen[$0 - 1] < chosen[$0] }
        return canonical ? chosen == correct : Set(chosen) == Set(correct)
    }

    private enum CodingKeys: String, CodingKey { case prompt, options, correct, id, version }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            prompt: try c.decode(String.self, forKey: .prompt),
            options: try c.decode([String].self, forKey: .options),
            correct: try c.decode([Int].self, forKey: .correct)
        )
    }
}

/// A named, ordered set of questions. The id is a content hash of the question ids, so the same deck imported on two machines
/// is the same deck, and fixing a typo in an option (a new question version) keeps the deck's id.
public struct Deck: Sendable, Hashable {
    public let name: String
    public let questions: [Question]
    public let id: String

    public init(name: String, questions: [Question]) {
        self.name = name
        self.questions = questions
        self.id = QuestionIdentity.deckID(questionIDs: questions.map(\.id))
    }
}

/// How question and deck ids are derived. Changing anything here changes every id, so it is versioned by its prefixes.
public enum QuestionIdentity {
    /// Folds every run of white space (including line breaks) into one space, trims, and composes Unicode (NFC),
    /// so that re-wrapping or re-encoding a prompt keeps its id.
    public static func normalise(_ text: String) -> String {
        text.precomposedStringWithCanonicalMapping
            .split(whereSeparator: { $0.isWhitespace })
            .joined(separator: " ")
    }

    /// The question's id: a hash of its normalised prompt.
    public static func id(prompt: String) -> String {
        "q" + SHA256.hex("question-v1\u{1F}" + normalise(prompt)).prefix(16)
    }

    /// The question's version: a hash of its normalised options in order and its answer key.
    public static func version(options: [String], correct: [Int]) -> String {
        let key = options.map(normalise).joined(separator: "\u{1F}") + "\u{1E}" + correct.sorted().map(String.init).joined(separator: ",")
        return "v" + SHA256.hex("version-v1\u{1F}" + key).prefix(12)
    }

    public static func deckID(questionIDs: [String]) -> String {
        "d" + SHA256.hex("deck-v1\u{1F}" + questionIDs.joined(separator: ",")).prefix(16)
    }
}
