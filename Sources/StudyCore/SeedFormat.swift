/// The plain-text deck format the bundled deck uses.
///
/// A question is a block of paragraphs separated from the next by a line `---`. The options are the trailing paragraphs; the
/// prompt is the first paragraph, extended up to the first paragraph ending in `?` or `:` when there is one, so a prompt can
/// carry context in a paragraph of its own. An option ending in `(Correct)` (any letter case) is correct; several make a
/// "choose all that apply" question.
public enum SeedFormat {
    static let marker = "(correct)"

    public static func parse(_ text: String, name: String) throws(DeckFormatError) -> Deck {
        var problems: [DeckProblem] = []
        var parsed: [(line: Int, question: Question)] = []
        let blocks = self.blocks(of: splitLines(text))

        for (index, block) in blocks.enumerated() {
            if block.paragraphs.isEmpty {
                // A separator at the very start or end is harmless; an empty block between two is a mistake.
                if index == 0 || index == blocks.count - 1 { continue }
                problems.append(.init(line: block.startLine, message: "This question is empty: remove the extra '---' line or write the question."))
                continue
            }
            switch question(from: block.paragraphs) {
            case .success(let q):
                parsed.append((block.paragraphs[0].line, q))
            case .failure(let found):
                problems.append(contentsOf: found.problems)
            }
        }
        return try assembleDeck(
            name: name, parsed: parsed, problems: problems, emptyFileHint: "write a prompt, a blank line, then the options, one paragraph each.")
    }

    public static func export(_ deck: Deck) -> String {
        deck.questions.map { q in
            var lines = [q.prompt, ""]
            for (i, option) in q.options.enumerated() {
                lines.append(q.correct.contains(i) ? option + " (Correct)" : option)
                lines.append("")
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "---\n\n")
    }

    struct Paragraph {
        let line: Int
        let text: String
    }

    struct Block {
        let startLine: Int
        var paragraphs: [Paragraph]
    }

    static func blocks(of lines: [Substring]) -> [Block] {
        var blocks = [Block(startLine: 1, paragraphs: [])]
        var current: [Substring] = []
        var currentStart = 0
        func flush() {
            if !current.isEmpty { blocks[blocks.count - 1].paragraphs.append(.init(line: currentStart, text: current.joined(separator: " "))) }
            current = []
        }
        for (offset, raw) in lines.enumerated() {
            let line = raw.trimmingWhitespace()
            if line.count >= 3 && line.allSatisfy({ $0 == "-" }) {
                flush()
                blocks.append(Block(startLine: offset + 1, paragraphs: []))
            } else if line.isEmpty {
                flush()
            } else {
                if current.isEmpty { currentStart = offset + 1 }
                current.append(line)
            }
        }
        flush()
        return blocks
    }

    private static func endsPrompt(_ text: String) -> Bool { text.hasSuffix("?") || text.hasSuffix(":") }

    private static func question(from paragraphs: [Paragraph]) -> Result<Question, DeckFormatError> {
        let start = paragraphs[0].line
        // The prompt reaches the first paragraph ending in ? or : while two paragraphs remain for options.
        var promptEnd = 0
        if let end = paragraphs.indices.first(where: { endsPrompt(paragraphs[$0].text) }), end <= paragraphs.count - 3 {
            promptEnd = end
        }
        let promptParagraphs = paragraphs[...promptEnd]
        let optionParagraphs = paragraphs[(promptEnd + 1)...]
        var problems: [DeckProblem] = []

        for p in promptParagraphs where p.text.lowercased().contains(marker) {
            problems.append(
                .init(
                    line: p.line,
                    message:
                        "The (Correct) marker is in the prompt: put a blank line between the prompt and the options, and mark an option, not the prompt."
                ))
        }
        var options: [String] = []
        var correct: [Int] = []
        for p in optionParagraphs {
            var text = Substring(p.text)
            if text.lowercased().hasSuffix(marker) {
                text = text.dropLast(marker.count).trimmingWhitespace()
                correct.append(options.count)
                if text.isEmpty {
                    problems.append(
                        .init(line: p.line, message: "This option is only a (Correct) marker: write the option's text before the marker."))
                }
            }
            if text.lowercased().contains(marker) {
                problems.append(.init(line: p.line, message: "The (Correct) marker is in the middle of an option: move it to the end of the option."))
            }
            options.append(String(text))
        }
        switch options.count {
        case 0:
            problems.append(
                .init(
                    line: start,
                    message: "This question has no options: add 2 to 10 options, each a paragraph after the prompt, separated by blank lines."))
        case 1:
            problems.append(.init(line: start, message: "This question has only 1 option: add at least one more, separated from it by a blank line."))
        case 11...:
            problems.append(
                .init(line: start, message: "This question has \(options.count) options: a question may have at most 10; split it or remove some."))
        default:
            if correct.isEmpty {
                problems.append(.init(line: start, message: "This question has no correct option: end the correct option with (Correct)."))
            }
        }
        let normalised = options.map(QuestionIdentity.normalise)
        for (i, option) in normalised.enumerated() where normalised[..<i].contains(option) {
            problems.append(
                .init(
                    line: optionParagraphs[optionParagraphs.startIndex + i].line,
                    message: "This option repeats an earlier option of the same question: remove or reword it."))
        }
        guard problems.isEmpty else { return .failure(DeckFormatError(problems: problems)) }
        let prompt = promptParagraphs.map(\.text).joined(separator: "\n\n")
        return .success(Question(prompt: prompt, options: options, correct: correct))
    }
}
