import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// Decks: a team's instructors (and admins) publish them; members fetch those published to their teams, and everyone
/// the bundled deck.
struct DeckController<Repository: TeamRepository & DeckRepository>: TeamScopedController {
    let repository: Repository
    let bundledDeckIDs: [String]
    let clock: @Sendable () -> Int64

    /// The bounds of a published deck (PROTOCOL.md, "Bounds").
    static var maxDeckQuestions: Int { 2_000 }
    static var maxPromptCharacters: Int { 4_000 }
    static var maxOptionCharacters: Int { 1_000 }

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.post("teams/:team/decks") { request, context in try await publish(request, context) }
        group.get("decks") { _, context in try await publishedDecks(context) }
        group.get("decks/:deck") { _, context in try await deck(context) }
    }

    func publish(_ request: Request, _ context: AppContext) async throws -> EditedResponse<PublishedView> {
        let (team, _) = try await access(context, need: .instructor)
        let identity = try context.requireIdentity()
        let body = try await decode(PublishDeckRequest.self, request, context, limit: 8 << 20)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = TextRule.problem(name, field: "name", characters: 1...100) {
            throw APIError(.badRequest, "invalid_field", problem, field: "name")
        }
        guard (1...Self.maxDeckQuestions).contains(body.questions.count) else {
            throw APIError(.badRequest, "invalid_field", "A deck has 1 to \(Self.maxDeckQuestions) questions.", field: "questions")
        }
        for (i, q) in body.questions.enumerated() {
            if let problem = TextRule.problem(q.prompt, field: "questions[\(i)].prompt", characters: 1...Self.maxPromptCharacters, multiline: true) {
                throw APIError(.badRequest, "invalid_field", problem, field: "questions[\(i)].prompt")
            }
            for (k, option) in q.options.enumerated() {
                if let problem = TextRule.problem(
                    option, field: "questions[\(i)].options[\(k)]", characters: 1...Self.maxOptionCharacters, multiline: true)
                {
                    throw APIError(.badRequest, "invalid_field", problem, field: "questions[\(i)].options[\(k)]")
                }
            }
            guard !q.prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, (2...10).contains(q.options.count),
                !q.correct.isEmpty, q.correct.allSatisfy({ q.options.indices.contains($0) })
            else {
                throw APIError.badRequest("Question \(i + 1) needs a prompt, 2 to 10 options and at least one correct option among them.")
            }
        }
        let deck = Deck(name: name, questions: body.questions.map { Question(prompt: $0.prompt, options: $0.options, correct: $0.correct) })
        guard Set(deck.questions.map(\.id)).count == deck.questions.count else {
            throw APIError.badRequest("The deck repeats a question; remove the copy.")
        }
        let now = clock()
        try await repository.publishDeck(deck, teamID: team.id, by: identity.user.id, at: now)
        return EditedResponse(
            status: .created, response: PublishedView(deck: PublishedDeck(teamID: team.id, deckID: deck.id, name: deck.name, publishedAt: now)))
    }

    func publishedDecks(_ context: AppContext) async throws -> DeckList {
        let identity = try context.requireIdentity()
        return DeckList(decks: try await repository.publishedDecks(userID: identity.user.id))
    }

    func deck(_ context: AppContext) async throws -> DeckView {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("deck")
        guard Attempt.isIdentifier(id) else { throw APIError.notFound("There is no deck \(id.prefix(64)) published to your teams.") }
        var visible = bundledDeckIDs.contains(id) || identity.user.role == .admin
        if !visible { visible = try await repository.publishedDecks(userID: identity.user.id).contains { $0.deckID == id } }
        guard visible, let deck = try await repository.deck(id: id) else {
            throw APIError.notFound("There is no deck \(id) published to your teams.")
        }
        return DeckView(id: deck.id, name: deck.name, questions: deck.questions)
    }
}
