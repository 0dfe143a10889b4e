/// Moodle's Aiken format: a prompt line, options `A.` or `A)`, then `ANSWER: B`.
///
/// Extensions, documented in the README: a prompt may span several lines (each kept as a paragraph), and `ANSWER: A, C`
/// names several correct options, so every StudySync deck can be written as Aiken and read back unchanged.
public enum AikenFormat {
    static let letters = Array("ABCDEFGHIJ")

    public static func parse(_ text: String, name: String) throws(DeckFormatError) -> Deck {
        var problems: [DeckProblem] = []
        var parsed: [(line: Int, question: Question)] = []
        var prompt: [(line: Int, text: Substring)] = []
        var options: [(line: Int, letter: Character, text: Substring)] = []

        func reset() { prompt = []; options = [] }

        for (offset, raw) in splitLines(text).enumerated() {
            let lineNumber = offset + 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty { continue }
            if let answer = answerLetters(in: line) {
                defer { reset() }
                guard let first = prompt.first else {
                    problems.append(
                        .init(line: lineNumber, message: "This ANSWER line has no question before it: write the prompt and its options above it."))
                    continue
                }
                if options.count < 2 {
                    problems.append(
                        .init(
                            line: first.line,
                            message: "This question has \(options.count) options: give 2 to 10 options as lines 'A. text', 'B. text', ..."))
                    continue
                }
                var correct: [Int] = []
                for letter in answer {
                    if let index = options.firstIndex(where: { $0.letter == letter }) {
                        correct.append(index)
                    } else {
                        problems.append(
                            .init(
                                line: lineNumber,
                                message:
                                    "ANSWER names \(letter), which is not one of this question's options: use one of \(options.map { String($0.letter) }.joined(separator: ", "))."
                            ))
                    }
                }
                if correct.isEmpty { continue }
                let q = Question(
                    prompt: prompt.map { String($0.text) }.joined(separator: "\n\n"), options: options.map { String($0.text) }, correct: correct)
                parsed.append((first.line, q))
            } else if let option = optionLine(line) {
                if prompt.isEmpty {
                    problems.append(
                        .init(line: lineNumber, message: "This option has no question before it: write the prompt on the line above the options."))
                    continue
                }
                let expected = options.count < letters.count ? letters[options.count] : "?"
                if option.letter != expected {
                    problems.append(
                        .init(
                            line: lineNumber,
                            message:
                                "Expected option \(expected) here but found \(option.letter): letter the options A, B, C, ... in order, at most 10."))
                }
                options.append((lineNumber, option.letter, option.text))
            } else {
                if !options.isEmpty {
                    problems.append(.init(line: prompt[0].line, message: "This question has no ANSWER line: add 'ANSWER: X' after its last option."))
                    reset()
                }
                if line.lowercased().contains(SeedFormat.marker) {
                    problems.append(
                        .init(
                            line: lineNumber,
                            message: "Aiken files mark the answer with an 'ANSWER: X' line, not (Correct): remove the marker and add the ANSWER line."
                        ))
                }
                prompt.append((lineNumber, line))
            }
        }
        if let first = prompt.first {
            problems.append(.init(line: first.line, message: "This question has no ANSWER line: add 'ANSWER: X' after its last option."))
        }
        return try assembleDeck(
            name: name, parsed: parsed, problems: problems, emptyFileHint: "write a prompt line, options 'A. text', and an 'ANSWER: A' line.")
    }

    /// Fails for a question with more than 10 options, which Aiken cannot letter; the parser refuses those too.
    public static func export(_ deck: Deck) -> String {
        deck.questions.map { q in
            var lines = q.prompt.components(separatedBy: "\n\n")
            for (i, option) in q.options.enumerated() { lines.append("\(letters[i]). \(option)") }
            lines.append("ANSWER: " + q.correct.map { String(letters[$0]) }.joined(separator: ", "))
            return lines.joined(separator: "\n") + "\n"
        }.joined(separator: "\n")
    }

    /// The letters of an `ANSWER: B` (or `ANSWER: A, C`) line, or nil when the line is not one.
    static func answerLetters(in line: Substring) -> [Character]? {
        let trimmed = line.trimmingWhitespace()
        guard trimmed.count > 7, trimmed.prefix(7).uppercased() == "ANSWER:" else { return nil }
        let rest = trimmed.dropFirst(7).split(whereSeparator: { $0 == "," || $0.isWhitespace })
        guard !rest.isEmpty, rest.allSatisfy({ $0.count == 1 && $0.first!.isLetter }) else { return nil }
        return rest.map { Character($0.uppercased()) }
    }

    private static func optionLine(_ line: Substring) -> (letter: Character, text: Substring)? {
        guard line.count >= 3, let letter = line.first, letter.isASCII, letter.isUppercase else { return nil }
        let separator = line[line.index(after: line.startIndex)]
        guard separator == "." || separator == ")" else { return nil }
        let text = line.dropFirst(2).trimmingWhitespace()
        guard line[line.index(line.startIndex, offsetBy: 2)].isWhitespace, !text.isEmpty else { return nil }
        return (letter, text)
    }
}
