import StudyCore

extension LocalStore {
    /// Imports the decks published to the user's teams that this home lacks. A team's deck replaces the same team's
    /// earlier version of it; a local deck of the same name from elsewhere is kept, and the team's is stored beside it
    /// as "NAME (team ID)". Returns the names imported.
    public func receivePublishedDecks(from api: ServerAPI) async throws -> [String] {
        try await receivePublishedDecks(try await api.publishedDecks(), from: api)
    }

    /// `receivePublishedDecks(from:)` with the list already asked for (`study sync` asks for it while it syncs, so the
    /// list costs no round trip of its own on a slow link).
    public func receivePublishedDecks(_ listed: [PublishedDeck], from api: ServerAPI) async throws -> [String] {
        var imported: [String] = []
        for published in listed {
            let origins = try deckOrigins()
            guard !origins.values.contains(where: { $0.id == published.deckID }) else { continue }
            let source = "team:\(published.teamID)"
            var deck = try await api.deck(id: published.deckID)
            if let existing = origins[deck.name], existing.source != source {
                deck = Deck(name: "\(deck.name) (team \(published.teamID))", questions: deck.questions)
                if origins[deck.name].map({ $0.id == published.deckID }) == true { continue }
            }
            _ = try importDeck(deck, source: source)
            imported.append(deck.name)
        }
        return imported
    }
}
