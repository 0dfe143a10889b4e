import ArgumentParser
import Foundation
import StudyClient
import StudyCore

struct DeckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deck", abstract: "List, show, import and export decks.",
        subcommands: [List.self, Show.self, Import.self, Export.self, Publish.self])

    enum FormatChoice: String, ExpressibleByArgument, CaseIterable { case auto, seed, aiken, json }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the decks in this home.")
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let store = try options.openStore()
            let progress = try store.progress()
            let summaries = try store.decks().map { DeckSummary(deck: $0, progress: progress, now: Clock.nowMs()) }
            if json {
                struct Row: Encodable { let name: String; let deckId: String; let questions: Int; let answered: Int }
                Terminal.say(Terminal.json(summaries.map { Row(name: $0.deck, deckId: $0.deckID, questions: $0.questions, answered: $0.answered) }))
                return
            }
            Terminal.say(
                Terminal.table(
                    ["Deck", "Questions", "Answered", "Id"], summaries.map { [$0.deck, "\($0.questions)", "\($0.answered)", $0.deckID] },
                    rightAligned: [1, 2]))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a deck's questions with the right answers marked *.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The deck's name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let deck = try options.openStore().requireDeck(name)
            if json {
                Terminal.say(JSONDeckFormat.export(deck), terminator: "")
                return
            }
            Terminal.say("\(deck.name): \(deck.questions.count) questions")
            for (i, q) in deck.questions.enumerated() {
                Terminal.say()
                Terminal.say("\(i + 1). \(q.prompt)")
                for (o, option) in q.options.enumerated() {
                    Terminal.say("   \(q.correct.contains(o) ? "*" : " ") \(AnswerInput.letter(o))) \(option)")
                }
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a deck file (seed, Aiken or JSON); a file with problems is refused whole, with line numbers.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The deck file.") var file: String
        @Option(help: "The deck's name (default: the file's name without extension).") var name: String?
        @Option(help: "The file's format: auto, seed, aiken or json.") var format: FormatChoice = .auto

        func run() throws {
            let (deck, detected) = try parseDeckFile(file, name: name, format: format)
            let store = try options.openStore()
            let result = try store.importDeck(deck, source: URL(fileURLWithPath: file).lastPathComponent)
            var parts = ["\(result.added) new", "\(result.changed) changed", "\(result.unchanged) unchanged"]
            if result.removed > 0 { parts.append("\(result.removed) no longer in the deck") }
            Terminal.say(
                "Imported deck '\(deck.name)' (\(detected.rawValue) format): \(deck.questions.count) questions, \(parts.joined(separator: ", ")).")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a deck as seed text, Aiken or JSON.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The deck's name.") var name: String
        @Option(help: "seed, aiken or json.") var format: FormatChoice = .seed
        @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

        func validate() throws {
            if format == .auto { throw ValidationError("Choose an export format: --format seed, aiken or json.") }
        }

        func run() throws {
            let deck = try options.openStore().requireDeck(name)
            let text = DeckFormat(rawValue: format.rawValue)!.export(deck)
            if let output {
                do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                    throw CLIError("Cannot write \(output): \(error.localizedDescription).")
                }
                Terminal.say("Wrote \(deck.questions.count) questions to \(output).")
            } else {
                Terminal.say(text, terminator: "")
            }
        }
    }
}

/// Reads a UTF-8 text file, or standard input for "-", with an error that names the file.
func readText(_ path: String) throws -> String {
    let data: Data
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        guard let read = FileManager.default.contents(atPath: path) else {
            throw CLIError("Cannot read \(path): check that the file exists and is readable.")
        }
        data = read
    }
    guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path) is not UTF-8 text: save it as UTF-8 and try again.") }
    return text
}

/// Reads and parses a deck file as `deck import` does: the same parsers, the same refusals with line numbers.
func parseDeckFile(_ file: String, name: String?, format: DeckCommand.FormatChoice) throws -> (Deck, DeckFormat) {
    let text = try readText(file)
    let detected = format == .auto ? DeckFormat.detect(text) : DeckFormat(rawValue: format.rawValue)!
    let defaultName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
    let deck: Deck
    do {
        deck = detected == .json ? try JSONDeckFormat.parse(text, name: name) : try detected.parse(text, name: name ?? defaultName)
    } catch {
        throw CLIError("\(file): \(error.description)")
    }
    guard !deck.name.trimmingCharacters(in: .whitespaces).isEmpty else { throw CLIError("The deck needs a name: pass --name NAME.") }
    return (deck, detected)
}

extension DeckCommand {
    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish a deck file to a team you teach; members receive it on their next 'study sync'.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The deck file (seed, Aiken or JSON), checked as 'deck import' checks it.") var file: String
        @OptionGroup var team: TeamOption
        @Option(help: "The deck's name (default: the file's name without extension).") var name: String?
        @Option(help: "The file's format: auto, seed, aiken or json.") var format: FormatChoice = .auto

        func run() async throws {
            let (deck, _) = try parseDeckFile(file, name: name, format: format)
            let (store, _, api) = try loggedIn(options)
            let target = try await team.resolve(api)
            let published = try await api.publish(deck, team: target.id)
            _ = try store.importDeck(deck, source: "team:\(target.id)")
            Terminal.say("Published '\(published.name)' (\(deck.questions.count) questions, id \(published.deckID)) to '\(target.name)'.")
        }
    }
}
