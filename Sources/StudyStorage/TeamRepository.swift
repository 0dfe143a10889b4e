import StudyCore

public enum JoinOutcome: Sendable, Equatable {
    case joined(TeamRecord, TeamRole)
    /// Already in the team: nothing changed, no use of the code was spent.
    case alreadyMember(TeamRecord, TeamRole)
    case unknownCode
    case expired
    case usedUp
}

public protocol TeamRepository: Sendable {
    /// Creates a team with `creatorID` as its instructor, and publishes the bundled decks (`bundledDeckIDs`) to it.
    func createTeam(name: String, timeZone: String, weekStart: Int, creatorID: Int64, bundledDeckIDs: [String], at time: Int64) async throws
        -> TeamRecord
    /// The team and the user's role in it (nil when not in it), in one look-up; nil when there is no such team.
    func team(id: Int64, roleOf userID: Int64) async throws -> (team: TeamRecord, role: TeamRole?)?
    /// The teams the user is in, or every team for `all`.
    func teams(userID: Int64, all: Bool) async throws -> [(team: TeamRecord, role: TeamRole?)]
    func isKnownTimeZone(_ name: String) async throws -> Bool
    func createInvite(codeHash: [UInt8], teamID: Int64, role: TeamRole, maxUses: Int, expiresAt: Int64, createdBy: Int64, at time: Int64) async throws
    /// Spends one use of the code and adds the user (rebuilding their board aggregates for the team's zone).
    func join(codeHash: [UInt8], userID: Int64, at time: Int64) async throws -> JoinOutcome
    /// False when the user was not in the team.
    func leave(teamID: Int64, userID: Int64) async throws -> Bool
    func members(teamID: Int64) async throws -> [TeamMember]
    func setLeaderboardOptOut(userID: Int64, optOut: Bool) async throws
    /// `offset` windows back from the current one (0 = this week or month).
    func leaderboard(teamID: Int64, window: LeaderboardWindow, offset: Int, callerID: Int64, showEveryone: Bool, limit: Int, at time: Int64)
        async throws -> Leaderboard
    /// One row per member of the team, or only `userID`'s.
    func learnerReport(teamID: Int64, userID: Int64?, at time: Int64) async throws -> [LearnerReportRow]
    func questionReport(teamID: Int64, deckID: String?, firstAttemptsOnly: Bool) async throws -> [QuestionReportRow]
    func weakQuestions(userID: Int64, limit: Int) async throws -> [WeakQuestion]
    func recentAttempts(userID: Int64, limit: Int) async throws -> [StoredAttempt]
    func publishDeck(_ deck: Deck, teamID: Int64, by userID: Int64, at time: Int64) async throws
    /// Decks published to any team of the user.
    func publishedDecks(userID: Int64) async throws -> [PublishedDeck]
    func deck(id: String) async throws -> Deck?
}
