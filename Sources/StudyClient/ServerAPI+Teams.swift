import Foundation
import StudyAPI
import StudyCore

/// Teams, decks, the leaderboard and reports, as the CLI calls them (PROTOCOL.md, "Teams").
extension ServerAPI {
    // The bodies are the wire types of StudyAPI, which the server uses too; these names are the CLI's for them.
    public typealias Team = TeamView
    public typealias Invite = InviteView
    public typealias DeckBody = DeckView
    public typealias Board = BoardView
    public typealias LearnerDetail = LearnerDetailView
    public typealias RoleChange = RoleView

    public func createTeam(name: String, timeZone: String?, weekStart: Int?) async throws -> Team {
        try await call("POST", "v1/teams", body: CreateTeamRequest(name: name, timeZone: timeZone, weekStart: weekStart), retry: false)
    }

    public func teams() async throws -> [Team] { try await (call("GET", "v1/teams", body: Empty?.none) as TeamList).teams }

    public func invite(team: Int64, role: String, maxUses: Int, expiresInHours: Int) async throws -> Invite {
        try await call(
            "POST", "v1/teams/\(team)/invites", body: CreateInviteRequest(role: role, maxUses: maxUses, expiresInHours: expiresInHours), retry: false)
    }

    public func join(code: String) async throws -> Team { try await call("POST", "v1/teams/join", body: JoinRequest(code: code), retry: false) }

    public func leave(team: Int64) async throws { try await send("DELETE", "v1/teams/\(team)/membership", body: Empty?.none) }

    public func members(team: Int64) async throws -> [TeamMember] {
        try await (call("GET", "v1/teams/\(team)/members", body: Empty?.none) as MemberList).members
    }

    public func publish(_ deck: Deck, team: Int64) async throws -> PublishedDeck {
        let body = PublishDeckRequest(
            name: deck.name, questions: deck.questions.map { QuestionBody(prompt: $0.prompt, options: $0.options, correct: $0.correct) })
        return try await (call("POST", "v1/teams/\(team)/decks", body: body, retry: false) as PublishedView).deck
    }

    public func publishedDecks() async throws -> [PublishedDeck] { try await (call("GET", "v1/decks", body: Empty?.none) as DeckList).decks }

    public func deck(id: String) async throws -> Deck {
        let body: DeckBody = try await call("GET", "v1/decks/\(id)", body: Empty?.none)
        return Deck(name: body.name, questions: body.questions)
    }

    public func leaderboard(team: Int64, window: String, offset: Int, limit: Int) async throws -> Board {
        try await call(
            "GET", "v1/teams/\(team)/leaderboard", query: ["window": window, "offset": String(offset), "limit": String(limit)], body: Empty?.none)
    }

    public func setLeaderboardOptOut(_ optOut: Bool) async throws {
        let _: VisibilityBody = try await call("PUT", "v1/me/leaderboard", body: VisibilityBody(optOut: optOut))
    }

    public func learnerReport(team: Int64) async throws -> [LearnerReportRow] {
        try await (call("GET", "v1/teams/\(team)/reports/learners", body: Empty?.none) as LearnerReportView).learners
    }

    public func questionReport(team: Int64, deck: String?, attempts: String) async throws -> [QuestionReportRow] {
        try await
            (call("GET", "v1/teams/\(team)/reports/questions", query: ["deck": deck, "attempts": attempts], body: Empty?.none) as QuestionReportView)
            .questions
    }

    public func learnerDetail(team: Int64, username: String) async throws -> LearnerDetail {
        try await call("GET", "v1/teams/\(team)/reports/learners/\(username)", body: Empty?.none)
    }

    public func setRole(username: String, role: String) async throws -> RoleChange {
        try await call("PUT", "v1/users/\(username)/role", body: SetRoleRequest(role: role), retry: false)
    }
}
