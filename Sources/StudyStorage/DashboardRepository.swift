import StudyCore

/// A learner's answers on one day, in some time zone: what the dashboard's chart of answers and accuracy draws.
public struct DailyAnswers: Sendable, Hashable {
    /// `yyyy-mm-dd` in the zone asked for.
    public let day: String
    public let attempts: Int
    public let correct: Int

    public init(day: String, attempts: Int, correct: Int) {
        self.day = day
        self.attempts = attempts
        self.correct = correct
    }
}

/// A team's week: its members' counted answers (flagged ones left out, as on the board) in one of the team's weeks.
public struct TeamWeek: Sendable, Hashable {
    /// The week's first day, `yyyy-mm-dd`, in the team's zone.
    public let week: String
    /// Members who answered that week.
    public let learners: Int
    public let attempts: Int
    public let correct: Int

    public init(week: String, learners: Int, attempts: Int, correct: Int) {
        self.week = week
        self.learners = learners
        self.attempts = attempts
        self.correct = correct
    }
}

/// What the web dashboard (issue 22) keeps and reads beyond the API's ports: its sign-in sessions, which are apart from
/// the devices' tokens, and a learner's answers by day.
public protocol DashboardRepository: Sendable {
    /// Keeps a new session (only the SHA-256 of its cookie's token) and forgets the user's expired and revoked ones.
    func createWebSession(tokenHash: [UInt8], userID: Int64, expiresAt: Int64, at time: Int64) async throws
    /// The user signed in by a session that is neither revoked nor expired, whose account is enabled; nil otherwise.
    func webSessionUser(tokenHash: [UInt8], at time: Int64) async throws -> UserRecord?
    func revokeWebSession(tokenHash: [UInt8], at time: Int64) async throws
    /// Signs the user out of every browser.
    func revokeWebSessions(userID: Int64, at time: Int64) async throws
    /// The user's answers per day in `timeZone` (an IANA name the database knows), answered in `from ..< until`
    /// (milliseconds), for the days that have any, in order.
    func answersByDay(userID: Int64, timeZone: String, from: Int64, until: Int64) async throws -> [DailyAnswers]
    /// The team's weeks from the one starting on `fromWeek` (`yyyy-mm-dd`), read from the board's weekly aggregates,
    /// for the weeks that have any answer, in order.
    func teamWeeks(team: TeamRecord, fromWeek: String) async throws -> [TeamWeek]
}
