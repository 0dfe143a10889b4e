import ArgumentParser
import Foundation
import StudyClient
import StudyCore

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List your latest answers, newest first.")

    @OptionGroup var options: HomeOptions
    @Option(help: "How many answers to list.") var limit = 20
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be at least 1, for example --limit 20.") }
    }

    struct Entry: Encodable {
        let attempt: Attempt
        let prompt: String?
        let chosenLetters: String

        func encode(to encoder: any Encoder) throws {
            try attempt.encode(to: encoder)
            enum Key: CodingKey { case prompt, chosenLetters }
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(prompt, forKey: .prompt)
            try c.encode(chosenLetters, forKey: .chosenLetters)
        }
    }

    func run() throws {
        let store = try options.openStoreForReading()
        let entries = try store.recentAttempts(limit: limit).map { a in
            Entry(
                attempt: a, prompt: try store.question(id: a.questionID, version: a.questionVersion)?.prompt,
                chosenLetters: a.chosen.map(AnswerInput.letter).joined())
        }
        if json {
            Terminal.say(Terminal.json(entries))
            return
        }
        if entries.isEmpty {
            Terminal.say("No answers yet: run 'study' to start a quiz.")
            return
        }
        Terminal.say(
            Terminal.table(
                ["Answered", "Result", "Chose", "Seconds", "Question"],
                entries.map { e in
                    [
                        Terminal.time(e.attempt.answeredAt), e.attempt.correct ? "right" : "wrong", e.chosenLetters,
                        String(format: "%.1f", Double(e.attempt.durationMs) / 1000), Terminal.clip(e.prompt ?? e.attempt.questionID, 60),
                    ]
                }, rightAligned: [3]))
    }
}
