import Foundation

/// StudySync's JSON deck document: `{"format": "studysync-deck", "version": 1, "name": ..., "questions": [...]}`.
public enum JSONDeckFormat {
    struct Document: Codable {
        var format = "studysync-deck"
        var version = 1
        var name: String
        var questions: [Entry]
    }

    struct Entry: Codable {
        var prompt: String
        var options: [String]
        var correct: [Int]
        var id: String?
        var version: String?
    }

    public static func export(_ deck: Deck) -> String {
        let doc = Document(
            name: deck.name,
            questions: deck.questions.map { .init(prompt: $0.prompt, options: $0.options, correct: $0.correct, id: $0.id, version: $0.version) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(doc), as: UTF8.self) + "\n"
    }

    /// Ids in the file are ignored: they are always derived from the text, so a hand-edited file cannot lie about them.
    public static func parse(_ text: String, name: String?) throws(DeckFormatError) -> Deck {
        let doc: Document
        do {
            doc = try JSONDecoder().decode(Document.self, from: Data(text.utf8))
        } catch {
            throw DeckFormatError(problems: [
                .init(line: 1, message: "This is not a StudySync JSON deck (\(describe(error))): export one with 'study deck export --format json'.")
            ])
        }
        var problems: [DeckProblem] = []
        var seen = Set<String>()
        var questions: [Question] = []
        for (i, entry) in doc.questions.enumerated() {
            let place = "Question \(i + 1)"
            if entry.prompt.trimmingWhitespace().isEmpty {
                problems.append(.init(line: 1, message: "\(place) has an empty prompt: write the question."))
            }
            if !(2...10).contains(entry.options.count) {
                problems.append(.init(line: 1, message: "\(place) has \(entry.options.count) options: give 2 to 10."))
            }
            if entry.correct.isEmpty || entry.correct.contains(where: { !entry.options.indices.contains($0) }) {
                problems.append(.init(line: 1, message: "\(place) has no valid correct option: 'correct' lists option indexes from 0."))
            }
            let q = Question(prompt: entry.prompt, options: entry.options, correct: entry.correct)
            if !seen.insert(q.id).inserted { problems.append(.init(line: 1, message: "\(place) repeats an earlier question: remove one of them.")) }
            questions.append(q)
        }
        if questions.isEmpty { problems.append(.init(line: 1, message: "The deck has no questions.")) }
        guard problems.isEmpty else { throw DeckFormatError(problems: problems) }
        return Deck(name: name ?? doc.name, questions: questions)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "the field '\(key.stringValue)' is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "a field has the wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "the JSON is malformed"
        }
    }
}

extension DeckFormat {
    /// Parses `text` in this format; `name` names the deck (JSON documents carry their own name when none is given).
    public func parse(_ text: String, name: String) throws(DeckFormatError) -> Deck {
        switch self {
        case .seed: try SeedFormat.parse(text, name: name)
        case .aiken: try AikenFormat.parse(text, name: name)
        case .json: try JSONDeckFormat.parse(text, name: name)
        }
    }

    public func export(_ deck: Deck) -> String {
        switch self {
        case .seed: SeedFormat.export(deck)
        case .aiken: AikenFormat.export(deck)
        case .json: JSONDeckFormat.export(deck)
        }
    }
}
