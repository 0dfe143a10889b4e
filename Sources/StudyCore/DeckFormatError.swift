/// One problem in a deck file, at a 1-based line number, with a sentence on how to fix it.
public struct DeckProblem: Sendable, Hashable, CustomStringConvertible {
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// A deck file was refused as a whole; every problem found is listed, so the author can fix them all in one pass.
public struct DeckFormatError: Error, Sendable, CustomStringConvertible {
    public let problems: [DeckProblem]

    public init(problems: [DeckProblem]) { self.problems = problems }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return "The deck file has \(count) and was not imported:\n" + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// The deck file formats `study` reads and writes.
public enum DeckFormat: String, Sendable, CaseIterable {
    /// Paragraphs: prompt, then options; the correct option ends in `(Correct)`; questions separated by `---`.
    case seed
    /// Moodle's Aiken format: `A. option` lines and `ANSWER: B`.
    case aiken
    /// StudySync's JSON deck document.
    case json

    /// Guesses the format of a file's text: JSON if it starts with `{`, Aiken if it has an `ANSWER:` line, else seed.
    public static func detect(_ text: String) -> DeckFormat {
        let trimmed = text.drop(while: { $0.isWhitespace || $0 == "\u{FEFF}" })
        if trimmed.first == "{" { return .json }
        let hasAnswerLine = text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).contains { line in
            AikenFormat.answerLetters(in: Substring(line)) != nil
        }
        return hasAnswerLine ? .aiken : .seed
    }
}

/// How every line-based parser ends: repeated questions are problems too, a file with no question is refused, and
/// any problem refuses the whole file; otherwise the deck.
func assembleDeck(
    name: String, parsed: [(line: Int, question: Question)], problems found: [DeckProblem], emptyFileHint: String
) throws(DeckFormatError) -> Deck {
    var problems = found
    var firstLineOfID: [String: Int] = [:]
    var questions: [Question] = []
    for (line, question) in parsed {
        if let earlier = firstLineOfID[question.id] {
            problems.append(.init(line: line, message: "This question repeats the question on line \(earlier): remove one of them."))
        } else {
            firstLineOfID[question.id] = line
            questions.append(question)
        }
    }
    if problems.isEmpty && questions.isEmpty { problems.append(.init(line: 1, message: "The file has no questions: " + emptyFileHint)) }
    // By line, and in the order found within a line.
    let ordered = problems.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element)
    guard ordered.isEmpty else { throw DeckFormatError(problems: ordered) }
    return Deck(name: name, questions: questions)
}

/// Splits text into lines, accepting LF, CRLF and CR endings and dropping a byte-order mark.
func splitLines(_ text: String) -> [Substring] {
    var body = Substring(text)
    if body.first == "\u{FEFF}" { body = body.dropFirst() }
    // Swift treats "\r\n" as one Character, so isNewline covers all three endings.
    return body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        let s = Substring(self)
        guard let start = s.firstIndex(where: { !$0.isWhitespace }) else { return s[s.endIndex...] }
        let end = s.lastIndex(where: { !$0.isWhitespace })!
        return s[start...end]
    }
}
