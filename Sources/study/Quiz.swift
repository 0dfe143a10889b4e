import ArgumentParser
import Foundation
import StudyClient
import StudyCore

struct Quiz: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Answer questions; every answer is saved before the next question is shown.",
        discussion:
            "Type the letter of your answer (several letters, like AC, where a question says 'choose all that apply'). Type q or end the input to stop."
    )

    @OptionGroup var options: HomeOptions
    @Option(help: "The deck to study (default: the bundled deck).") var deck: String?
    @Option(help: "How many questions to ask.") var count = 10
    @Option(help: "Which questions: due (due now, then new), new, wrong (last answer wrong), or all.") var mode: Mode = .due
    @Option(help: "Seed for the order of questions and options, to make a scripted session reproducible.") var seed: UInt64?

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case due, new, wrong, all
        var core: QuizMode { QuizMode(rawValue: rawValue)! }
    }

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be at least 1, for example --count 10.") }
    }

    func run() throws {
        let store = try options.openStore()
        let deck = try resolveDeck(self.deck, in: store)
        let progress = try store.progress()
        let now = Clock.nowMs()
        var rng = SeededGenerator(seed: seed ?? UInt64.random(in: .min ... .max))
        let questions = QuizPlan.select(deck: deck, progress: progress, mode: mode.core, count: count, now: now, using: &rng)
        guard !questions.isEmpty else {
            Terminal.say(nothingToDo(deck: deck, progress: progress, now: now))
            return
        }
        let sessionID = try store.startSession(deckID: deck.id, at: now)
        var clock = try store.hybridClock()
        // The offset the server measured at the last sync: a device whose clock is wrong still stamps the right time.
        let offset = store.clockOffsetMs
        var answered = 0
        var right = 0
        Terminal.say(Terminal.bold("\(deck.name): \(questions.count) question\(questions.count == 1 ? "" : "s") (\(mode.rawValue))"))

        for (number, question) in questions.enumerated() {
            let order = QuizPlan.optionOrder(for: question, using: &rng)
            Terminal.say()
            Terminal.say(Terminal.bold("Question \(number + 1) of \(questions.count)"))
            Terminal.say(question.prompt)
            if question.isMultipleAnswer { Terminal.say(Terminal.dim("Choose all that apply.")) }
            Terminal.say()
            for (position, index) in order.enumerated() {
                Terminal.say("  \(AnswerInput.letter(position))) \(question.options[index])")
            }
            let started = DispatchTime.now()
            guard let positions = readAnswer(optionCount: order.count, multipleAnswer: question.isMultipleAnswer) else { break }
            let chosen = positions.map { order[$0] }.sorted()
            let correct = question.grade(chosen)
            let durationMs = Int64((DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1_000_000)
            let answeredAt = clock.stamp(wallClock: Clock.nowMs() + offset)
            try store.record(
                Attempt(
                    id: try store.newAttemptID(answeredAt: answeredAt), deviceID: store.deviceID, questionID: question.id,
                    questionVersion: question.version,
                    chosen: chosen, correct: correct, answeredAt: answeredAt, durationMs: durationMs, sessionID: sessionID))
            answered += 1
            if correct {
                right += 1
                Terminal.say(Terminal.green("Right."))
            } else {
                let key = order.enumerated().filter { question.correct.contains($0.element) }
                    .map { "\(AnswerInput.letter($0.offset))) \(question.options[$0.element])" }
                Terminal.say(Terminal.red("Wrong.") + " The answer\(key.count == 1 ? " is" : "s are") " + key.joined(separator: "; "))
            }
        }
        Terminal.say()
        let stopped = answered < questions.count ? "Stopped after \(answered) of \(questions.count). " : ""
        let share = answered == 0 ? "" : " (\(Terminal.percent(Double(right) / Double(answered))))"
        Terminal.say("\(stopped)You answered \(answered), \(right) right\(share). 'study progress' shows what is due.")
    }

    /// Reads until a valid answer; nil when the learner quits or the input ends.
    private func readAnswer(optionCount: Int, multipleAnswer: Bool) -> [Int]? {
        let last = AnswerInput.letter(optionCount - 1)
        while true {
            Terminal.say(multipleAnswer ? "Your answers (letters, q to quit): " : "Your answer (A-\(last), q to quit): ", terminator: "")
            guard let line = readLine() else {
                Terminal.say()
                return nil
            }
            if !Terminal.interactive { Terminal.say() }
            switch AnswerInput.parse(line, optionCount: optionCount, multipleAnswer: multipleAnswer) {
            case .quit: return nil
            case .choice(let positions): return positions
            case .invalid:
                Terminal.say(
                    multipleAnswer
                        ? "Type the letters of every right option, from A to \(last) (for example AC), or q to quit."
                        : "Type one letter from A to \(last), or q to quit.")
            }
        }
    }

    private func nothingToDo(deck: Deck, progress: [String: QuestionProgress], now: Int64) -> String {
        let summary = DeckSummary(deck: deck, progress: progress, now: now)
        switch mode {
        case .wrong: return "No question in \(deck.name) has a wrong last answer. 'study --mode all' practises every question."
        case .new: return "Every question in \(deck.name) has been answered. 'study --mode all' practises them again."
        default:
            let next = summary.nextDue.map { " The next question is due at \(Terminal.time($0))." } ?? ""
            return "Nothing is due in \(deck.name).\(next) 'study --mode all' practises anyway."
        }
    }
}
