import Foundation
import StudyCore

/// Teams, decks, the leaderboard and reports, as the CLI calls them (PROTOCOL.md, "Teams").
extension ServerAPI {
    public struct Team: Codable, Sendable {
        public let id: Int64; public let name: String; public let timeZone: String; public let weekStart: Int; public let createdAt: Int64;
        public let role: String?
    }
    struct Teams: Codable { let teams: [Team] }
    public struct Invite: Codable, Sendable {
        public let code: String; public let teamId: Int64; public let role: String; public let maxUses: Int; public let expiresAt: Int64
    }
    struct Members: Codable { let members: [TeamMember] }
    struct Decks: Codable { let decks: [PublishedDeck] }
    struct Published: Codable { let deck: PublishedDeck }
    public struct DeckBody: Codable, Sendable { public let id: String; public let name: String; public let questions: [Question] }
    public struct Board: Codable, Sendable {
        public let teamId: Int64; public let window: String; public let from: String?; public let until: String?; public let rows: [Row]
        public struct Row: Codable, Sendable {
            public let rank: Int; public let userId: Int64; public let displayName: String; public let points: Int; public let answered: Int
            public let accuracy: Double?; public let streak: Int; public let mastered: Int; public let you: Bool
        }
    }
    struct LearnerReport: Codable { let learners: [LearnerReportRow] }
    struct QuestionReport: Codable { let questions: [QuestionReportRow] }
    public struct LearnerDetail: Codable, Sendable {
        public let learner: LearnerReportRow; public let weakQuestions: [WeakQuestion]; public let recent: [Attempt]
    }
    struct Visibility: Codable { let optOut: Bool }
    public struct RoleChange: Codable, Sendable { public let username: String; public let role: String }

    public func createTeam(name: String, timeZone: String?, weekStart: Int?) async throws -> Team {
        struct Body: Encodable { let name: String; let timeZone: String?; let weekStart: Int? }
        return try await call("POST", "v1/teams", body: Body(name: name, timeZone: timeZone, weekStart: weekStart), retry: false)
    }

    public func teams() async throws -> [Team] { try await (call("GET", "v1/teams", body: Empty?.none) as Teams).teams }

    public func invite(team: Int64, role: String, maxUses: Int, expiresInHours: Int) async throws -> Invite {
        struct Body: Encodable { let role: String; let maxUses: Int; let expiresInHours: Int }
        return try await call(
            "POST", "v1/teams/\(team)/invites", body: Body(role: role, maxUses: maxUses, expiresInHours: expiresInHours), retry: false)
    }

    public func join(code: String) async throws -> Team { try await call("POST", "v1/teams/join", body: ["code": code], retry: false) }

    public func leave(team: Int64) async throws { try await send("DELETE", "v1/teams/\(team)/membership", body: Empty?.none) }

    public func members(team: Int64) async throws -> [TeamMember] {
        try await (call("GET", "v1/teams/\(team)/members", body: Empty?.none) as Members).members
    }

    public func publish(_ deck: Deck, team: Int64) async throws -> PublishedDeck {
        struct Q: Encodable { let prompt: String; let options: [String]; let correct: [Int] }
        struct Body: Encodable { let name: String; let questions: [Q] }
        let body = Body(name: deck.name, questions: deck.questions.map { Q(prompt: $0.prompt, options: $0.options, correct: $0.correct) })
        return try await (call("POST", "v1/teams/\(team)/decks", body: body, retry: false) as Published).deck
    }

    public func publishedDecks() async throws -> [PublishedDeck] { try await (call("GET", "v1/decks", body: Empty?.none) as Decks).decks }

    public func deck(id: String) async throws -> Deck {
        let body: DeckBody = try await call("GET", "v1/decks/\(id)", body: Empty?.none)
        return Deck(name: body.name, questions: body.questions)
    }

    public func leaderboard(team: Int64, window: String, offset: Int, limit: Int) async throws -> Board {
        try await call(
            "GET", "v1/teams/\(team)/leaderboard", query: ["window": window, "offset": String(offset), "limit": String(limit)], body: Empty?.none)
    }

    public func setLeaderboardOptOut(_ optOut: Bool) async throws {
        let _: Visibility = try await call("PUT", "v1/me/leaderboard", body: Visibility(optOut: optOut))
    }

    public func learnerReport(team: Int64) async throws -> [LearnerReportRow] {
        try await (call("GET", "v1/teams/\(team)/reports/learners", body: Empty?.none) as LearnerReport).learners
    }

    public func questionReport(team: Int64, deck: String?, attempts: String) async throws -> [QuestionReportRow] {
        try await
            (call("GET", "v1/teams/\(team)/reports/questions", query: ["deck": deck, "attempts": attempts], body: Empty?.none) as QuestionReport)
            .questions
    }

    public func learnerDetail(team: Int64, username: String) async throws -> LearnerDetail {
        try await call("GET", "v1/teams/\(team)/reports/learners/\(username)", body: Empty?.none)
    }

    public func setRole(username: String, role: String) async throws -> RoleChange {
        try await call("PUT", "v1/users/\(username)/role", body: ["role": role], retry: false)
    }
}
