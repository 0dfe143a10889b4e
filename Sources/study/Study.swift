import ArgumentParser
import Foundation
import StudyAPI
import StudyClient
import StudyCore

@main
struct Study: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Study multiple-choice decks in the terminal, offline.",
        discussion: "With no subcommand, 'study' starts a quiz. Data lives in $XDG_DATA_HOME/studysync (override with --home or STUDY_HOME).",
        version: StudySyncVersion.current,
        subcommands: [
            Quiz.self, ProgressCommand.self, DeckCommand.self, History.self, Backup.self, Register.self, Login.self, Logout.self, Sync.self,
            Status.self, Devices.self, TeamCommand.self, LeaderboardCommand.self, ReportCommand.self, RoleCommand.self,
        ],
        defaultSubcommand: Quiz.self
    )
}

/// Flags every command shares.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The study home directory (default: $STUDY_HOME, else $XDG_DATA_HOME/studysync).", valueName: "DIR"))
    var home: String?

    func openStore() throws -> LocalStore {
        try LocalStore(directory: StudyHome.resolve(explicit: home))
    }

    /// The store for a command that only reads: it opens even on a full disk or a read-only home.
    func openStoreForReading() throws -> LocalStore {
        try LocalStore(directory: StudyHome.resolve(explicit: home), forReading: true)
    }
}

/// A failure the learner can act on; printed as one sentence.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Names the deck a command works on: the one given, else the only deck, else the bundled one.
func resolveDeck(_ name: String?, in store: LocalStore) throws -> Deck {
    if let name { return try store.requireDeck(name) }
    let decks = try store.decks()
    if decks.count == 1 { return decks[0] }
    if let bundled = decks.first(where: { $0.name == "ml-deployment" }) { return bundled }
    guard let first = decks.first else { throw CLIError("There are no decks: import one with 'study deck import FILE'.") }
    return first
}

/// Decks a read command covers: the one given, else all.
func selectDecks(_ name: String?, in store: LocalStore) throws -> [Deck] {
    if let name { return [try store.requireDeck(name)] }
    return try store.decks()
}
