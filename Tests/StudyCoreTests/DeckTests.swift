import Foundation
import StudyDecks
import Testing

@testable import StudyCore

@Suite struct BundledDeckTests {
    let deck = try! SeedFormat.parse(BundledDecks.all()[0].text, name: "ml-deployment")

    @Test func parsesIntoTwentyOneQuestionsOfFourOptionsWithOneCorrect() {
        #expect(deck.questions.count == 21)
        for q in deck.questions {
            #expect(q.options.count == 4)
            #expect(q.correct.count == 1)
            #expect(!q.prompt.lowercased().contains("(correct)"))
            #expect(!q.options.contains { $0.lowercased().contains("(correct)") })
        }
    }

    @Test func keepsBothParagraphsOfTheSixteenthAndSeventeenthPrompts() {
        let sixteenth = deck.questions[15].prompt.components(separatedBy: "\n\n")
        #expect(sixteenth.count == 2)
        #expect(sixteenth[1] == "What is the best approach to deploy this model using Amazon SageMaker?")
        let seventeenth = deck.questions[16].prompt.components(separatedBy: "\n\n")
        #expect(seventeenth.count == 2)
        #expect(seventeenth[1] == "Which inference strategy would you choose?")
        #expect(deck.questions[16].options == ["Serverless inference", "Real-time inference", "Batch transform job", "Asynchronous inference"])
        #expect(deck.questions[16].correct == [3])
        for (i, q) in deck.questions.enumerated() where i != 15 && i != 16 { #expect(!q.prompt.contains("\n")) }
    }

    @Test func firstQuestionHasItsAnswerKey() {
        let q = deck.questions[0]
        #expect(q.prompt.hasPrefix("You are working on a machine learning (ML) solution"))
        #expect(q.correct == [0])
        #expect(q.options[0].hasSuffix("create predictions."))
    }
}

@Suite struct SeedFormatRobustnessTests {
    func parse(_ text: String) throws -> Deck { try SeedFormat.parse(text, name: "t") }

    let plain = "What is 2+2?\n\n3\n\n4 (Correct)\n\n5\n---\nPick the colour of the sky:\n\nBlue (Correct)\n\nGreen\n"

    @Test func crlfAndCrLineEndingsParseLikeLf() throws {
        let lf = try parse(plain)
        #expect(try parse(plain.replacingOccurrences(of: "\n", with: "\r\n")) == lf)
        #expect(try parse(plain.replacingOccurrences(of: "\n", with: "\r")) == lf)
    }

    @Test func trailingWhiteSpaceAndExtraBlankLinesAreIgnored() throws {
        let messy =
            "\n\n  \nWhat is 2+2?   \t\n\n\n\n3  \n   \n4 (Correct)\t\n\n\n5\n\n\n   ---   \n\n\nPick the colour of the sky:\n\nBlue (Correct)  \n\nGreen\n\n\n---\n\n"
        #expect(try parse(messy) == parse(plain))
    }

    @Test func acceptsTwoToTenOptions() throws {
        let two = try parse("Yes or no?\n\nYes (Correct)\n\nNo\n")
        #expect(two.questions[0].options == ["Yes", "No"])
        let ten = try parse("Pick nine?\n\n" + (1...10).map { $0 == 9 ? "\($0) (Correct)" : "\($0)" }.joined(separator: "\n\n"))
        #expect(ten.questions[0].options.count == 10)
        #expect(ten.questions[0].correct == [8])
    }

    @Test func theMarkerMatchesInAnyLetterCase() throws {
        let deck = try parse("A?\n\nx (CORRECT)\n\ny\n---\nB?\n\nx\n\ny (correct)\n---\nC?\n\nx (cOrReCt)\n\ny\n")
        #expect(deck.questions.map(\.correct) == [[0], [1], [0]])
        #expect(deck.questions.allSatisfy { !$0.options.contains { $0.lowercased().contains("correct") } })
    }

    @Test func severalCorrectOptionsMakeAChooseAllThatApplyQuestion() throws {
        let q = try parse("Which are prime?\n\n2 (Correct)\n\n3 (Correct)\n\n4\n\n5 (Correct)\n").questions[0]
        #expect(q.isMultipleAnswer)
        #expect(q.correct == [0, 1, 3])
        #expect(q.grade([0, 1, 3]))
        #expect(!q.grade([0, 1]))
        #expect(!q.grade([0, 1, 2, 3]))
        // A choice in any order, or with an option repeated, is the same choice.
        #expect(q.grade([3, 0, 1]) && q.grade([0, 1, 1, 3]))
        #expect(!q.grade([3, 1]) && !q.grade([]))
    }

    @Test func anyUnicodeSurvives() throws {
        let q = try parse("Qu'est-ce que «日本語» signifie? 🤔\n\nJapanese 🇯🇵 (Correct)\n\nΕλληνικά\n\nعربى\n").questions[0]
        #expect(q.prompt == "Qu'est-ce que «日本語» signifie? 🤔")
        #expect(q.options == ["Japanese 🇯🇵", "Ελληνικά", "عربى"])
    }

    @Test func aParagraphWrappedOverSeveralLinesIsOneOption() throws {
        let q = try parse("Which?\n\nA long option\nwrapped here (Correct)\n\nShort\n").questions[0]
        #expect(q.options == ["A long option wrapped here", "Short"])
    }
}

@Suite struct SeedFormatErrorTests {
    func problems(_ text: String) -> [DeckProblem] {
        do {
            _ = try SeedFormat.parse(text, name: "t")
            return []
        } catch { return error.problems }
    }

    @Test func aQuestionWithNoOptionsIsRefusedWithItsLine() {
        let found = problems("Good?\n\nYes (Correct)\n\nNo\n---\n\nWhat is missing here?\n")
        #expect(found.map(\.line) == [8])
        #expect(found[0].message.contains("no options"))
    }

    @Test func aQuestionWithNoMarkedAnswerIsRefused() {
        let found = problems("Which?\n\nA\n\nB\n")
        #expect(found == [DeckProblem(line: 1, message: "This question has no correct option: end the correct option with (Correct).")])
    }

    @Test func anEmptyQuestionBetweenSeparatorsIsRefused() {
        let found = problems("A?\n\nx (Correct)\n\ny\n---\n\n---\nB?\n\nx (Correct)\n\ny\n")
        #expect(found.map(\.line) == [6])
        #expect(found[0].message.contains("empty"))
    }

    @Test func aMarkerInsideThePromptIsRefused() {
        let found = problems("Which one (Correct) is it?\n\nx (Correct)\n\ny\n")
        #expect(found.map(\.line) == [1])
        #expect(found[0].message.contains("prompt"))
        // A prompt run into its options, with no blank line, also puts the marker in the prompt.
        let runOn = problems("Which?\nx (Correct)\n\ny\n\nz\n")
        #expect(runOn.map(\.line) == [1, 1])
        #expect(runOn[0].message.contains("prompt") && runOn[1].message.contains("no correct option"))
    }

    @Test func everyProblemInTheFileIsListedByLine() {
        let text = "A?\n\nx\n\ny\n---\nB?\n---\nC?\n\nonly (Correct)\n---\nD?\n\nsame (Correct)\n\nsame\n"
        let found = problems(text)
        #expect(found.map(\.line) == [1, 7, 9, 17])
        let error = DeckFormatError(problems: found)
        #expect(error.description.hasPrefix("The deck file has 4 problems and was not imported:\n  line 1: "))
    }

    @Test func elevenOptionsAreTooMany() {
        let found = problems("Which?\n\n" + (0..<11).map { $0 == 0 ? "o0 (Correct)" : "o\($0)" }.joined(separator: "\n\n"))
        #expect(found.count == 1 && found[0].message.contains("at most 10"))
    }

    @Test func aRepeatedQuestionIsRefused() {
        #expect(problems("Same?\n\nx (Correct)\n\ny\n---\nSame?\n\nx (Correct)\n\nz\n").map(\.line) == [7])
    }

    @Test func anEmptyFileIsRefused() {
        #expect(problems("\n\n  \n").count == 1)
    }
}

@Suite struct AikenAndExportTests {
    let bundled = try! SeedFormat.parse(BundledDecks.all()[0].text, name: "ml-deployment")

    @Test func importsMoodleAiken() throws {
        let text = """
            What is the correct answer to this question?
            A. Is it this one?
            B. Maybe this answer?
            C) Possibly this one?
            ANSWER: A

            Which LMS has the most quiz import formats?
            A) Moodle
            B) ATutor
            ANSWER: a
            """
        #expect(DeckFormat.detect(text) == .aiken)
        let deck = try AikenFormat.parse(text, name: "aiken")
        #expect(deck.questions.count == 2)
        #expect(deck.questions[0].options == ["Is it this one?", "Maybe this answer?", "Possibly this one?"])
        #expect(deck.questions[0].correct == [0])
        #expect(deck.questions[1].correct == [0])
    }

    @Test func refusesAikenWithProblemsByLine() {
        let text = "Q1?\nA. x\nB. y\nANSWER: C\n\nQ2?\nA. x\nB. y\n\nQ3?\nA. x\nB. y\nANSWER: A\n"
        do {
            _ = try AikenFormat.parse(text, name: "t")
            Issue.record("expected a DeckFormatError")
        } catch {
            #expect(error.problems.map(\.line) == [4, 6])
        }
    }

    @Test(arguments: DeckFormat.allCases)
    func exportRoundTrips(format: DeckFormat) throws {
        let multi = try SeedFormat.parse("Which are even?\n\n2 (Correct)\n\n3\n\n4 (Correct)\n", name: "m")
        for deck in [bundled, multi] {
            let text = format.export(deck)
            #expect(DeckFormat.detect(text) == format)
            let back = try format.parse(text, name: deck.name)
            #expect(back == deck)
            #expect(format.export(back) == text)
        }
    }

    @Test func theBundledDeckKeepsItsIdsThroughEveryFormat() throws {
        let aiken = try AikenFormat.parse(AikenFormat.export(bundled), name: "x")
        #expect(aiken.questions.map(\.id) == bundled.questions.map(\.id))
        #expect(aiken.questions.map(\.version) == bundled.questions.map(\.version))
        #expect(aiken.id == bundled.id)
    }
}
