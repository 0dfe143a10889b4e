import ArgumentParser
import Foundation
import StudyClient
import StudyCore

struct ProgressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "progress", abstract: "Show where you stand and what is due, per deck.")

    @OptionGroup var options: HomeOptions
    @Option(help: "Only this deck.") var deck: String?
    @Flag(help: "Also list every question with its FSRS state.") var questions = false
    @Flag(help: "Print JSON.") var json = false

    struct QuestionRow: Encodable {
        let position: Int
        let questionId: String
        let version: String
        let prompt: String
        let attempts: Int
        let correctAttempts: Int
        let state: String
        let step: Int?
        let stability: Double?
        let difficulty: Double?
        let due: Int64?
        let retrievability: Double
        let mastered: Bool
    }

    struct DeckReport: Encodable {
        let summary: DeckSummary
        let questions: [QuestionRow]?

        func encode(to encoder: any Encoder) throws {
            try summary.encode(to: encoder)
            enum Key: CodingKey { case questions }
            var c = encoder.container(keyedBy: Key.self)
            try c.encodeIfPresent(questions, forKey: .questions)
        }
    }

    func run() throws {
        let store = try options.openStoreForReading()
        let decks = try selectDecks(deck, in: store)
        let progress = try store.progress()
        let now = Clock.nowMs()
        let reports = decks.map { deck in
            DeckReport(summary: DeckSummary(deck: deck, progress: progress, now: now), questions: questions ? rows(deck, progress, now) : nil)
        }
        if json {
            struct Output: Encodable { let decks: [DeckReport] }
            Terminal.say(Terminal.json(Output(decks: reports)))
            return
        }
        Terminal.say(
            Terminal.table(
                ["Deck", "Questions", "Answered", "Accuracy", "Mastered", "Due now", "Next due"],
                reports.map(\.summary).map { s in
                    [
                        s.deck, "\(s.questions)", "\(s.answered)", Terminal.percent(s.accuracy), "\(s.mastered)", "\(s.dueNow)",
                        Terminal.time(s.nextDue),
                    ]
                }, rightAligned: [1, 2, 3, 4, 5]))
        for report in reports {
            let s = report.summary
            Terminal.say()
            Terminal.say("\(s.deck)")
            Terminal.say("  answered  \(Terminal.bar(s.answered, of: s.questions))  \(s.answered)/\(s.questions)")
            Terminal.say("  mastered  \(Terminal.bar(s.mastered, of: s.questions))  \(s.mastered)/\(s.questions)")
            Terminal.say("  due now   \(Terminal.bar(s.dueNow, of: s.questions))  \(s.dueNow)/\(s.questions)")
            if let rows = report.questions {
                Terminal.say()
                Terminal.say(
                    Terminal.table(
                        ["#", "State", "Stability", "Difficulty", "Due", "Right", "Question"],
                        rows.map { r in
                            [
                                "\(r.position)", r.state, r.stability.map { String(format: "%.2fd", $0) } ?? "-",
                                r.difficulty.map { String(format: "%.2f", $0) } ?? "-",
                                Terminal.time(r.due), "\(r.correctAttempts)/\(r.attempts)", Terminal.clip(r.prompt, 48),
                            ]
                        }, rightAligned: [0, 2, 3, 5]))
            }
        }
    }

    private func rows(_ deck: Deck, _ progress: [String: QuestionProgress], _ now: Int64) -> [QuestionRow] {
        deck.questions.enumerated().map { i, q in
            let p = progress[q.id]
            let card = p?.card ?? FSRS.Card()
            let state = p == nil ? "new" : ["learning", "review", "relearning"][card.state.rawValue - 1]
            return QuestionRow(
                position: i + 1, questionId: q.id, version: q.version, prompt: q.prompt, attempts: p?.attempts ?? 0,
                correctAttempts: p?.correctAttempts ?? 0,
                state: state, step: p == nil ? nil : card.step, stability: card.stability, difficulty: card.difficulty, due: card.due,
                retrievability: FSRS.standard.retrievability(of: card, at: now), mastered: p?.isMastered ?? false)
        }
    }
}
