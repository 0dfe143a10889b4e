/// Teams, the leaderboard and instructor reports, as the domain sees them (issue 5). `StudyPostgres` implements the
/// repository; the rules are written down in the README ("Teams, leaderboard and reports").

public enum TeamRole: String, Sendable, Codable, CaseIterable {
    case member, instructor
}

public struct TeamRecord: Sendable, Hashable, Codable {
    public let id: Int64
    public let name: String
    /// An IANA zone name; days, weeks and streaks are counted in it.
    public let timeZone: String
    /// ISO day number the week starts on: 1 = Monday … 7 = Sunday.
    public let weekStart: Int
    public let createdAt: Int64

    public init(id: Int64, name: String, timeZone: String, weekStart: Int, createdAt: Int64) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.weekStart = weekStart
        self.createdAt = createdAt
    }
}

public struct TeamMember: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case userID = "userId", username, displayName, role, joinedAt }

    public let userID: Int64
    public let username: String
    public let displayName: String
    public let role: TeamRole
    public let joinedAt: Int64

    public init(userID: Int64, username: String, displayName: String, role: TeamRole, joinedAt: Int64) {
        self.userID = userID
        self.username = username
        self.displayName = displayName
        self.role = role
        self.joinedAt = joinedAt
    }
}

public enum LeaderboardWindow: String, Sendable, Codable, CaseIterable {
    case week, month, all
}

public struct LeaderboardRow: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case rank, userID = "userId", displayName, points, answered, correct, streak, mastered, isCaller }

    /// Competition ranking by points: ties share a rank (1, 2, 2, 4).
    public let rank: Int
    public let userID: Int64
    public let displayName: String
    public let points: Int
    public let answered: Int
    public let correct: Int
    /// Consecutive active days up to today or yesterday, in the team's zone.
    public let streak: Int
    public let mastered: Int
    public let isCaller: Bool

    public var accuracy: Double? { answered > 0 ? Double(correct) / Double(answered) : nil }

    public init(rank: Int, userID: Int64, displayName: String, points: Int, answered: Int, correct: Int, streak: Int, mastered: Int, isCaller: Bool) {
        self.rank = rank
        self.userID = userID
        self.displayName = displayName
        self.points = points
        self.answered = answered
        self.correct = correct
        self.streak = streak
        self.mastered = mastered
        self.isCaller = isCaller
    }
}

public struct Leaderboard: Sendable, Hashable {
    public let window: LeaderboardWindow
    /// First day of the window and the day after its last, in the team's zone (`yyyy-mm-dd`); nil for `all`.
    public let from: String?
    public let until: String?
    /// The top rows, then the caller's own row when it is not among them.
    public let rows: [LeaderboardRow]

    public init(window: LeaderboardWindow, from: String?, until: String?, rows: [LeaderboardRow]) {
        self.window = window
        self.from = from
        self.until = until
        self.rows = rows
    }
}

public struct LearnerReportRow: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey {
        case userID = "userId", username, displayName, questionsAttempted, attempts, accuracy, mastered, due, streak, lastActiveAt, inactive
    }

    public let userID: Int64
    public let username: String
    public let displayName: String
    public let questionsAttempted: Int
    public let attempts: Int
    public let accuracy: Double?
    public let mastered: Int
    public let due: Int
    public let streak: Int
    public let lastActiveAt: Int64?
    public let inactive: Bool

    public init(
        userID: Int64, username: String, displayName: String, questionsAttempted: Int, attempts: Int, accuracy: Double?, mastered: Int, due: Int,
        streak: Int,
        lastActiveAt: Int64?, inactive: Bool
    ) {
        self.userID = userID
        self.username = username
        self.displayName = displayName
        self.questionsAttempted = questionsAttempted
        self.attempts = attempts
        self.accuracy = accuracy
        self.mastered = mastered
        self.due = due
        self.streak = streak
        self.lastActiveAt = lastActiveAt
        self.inactive = inactive
    }
}

public struct QuestionReportRow: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey {
        case deckID = "deckId", position, questionID = "questionId", prompt, learners, attempts, facility, discrimination, options, medianDurationMs
    }

    public let deckID: String
    public let position: Int
    public let questionID: String
    public let prompt: String
    public let learners: Int
    public let attempts: Int
    public let facility: Double?
    public let discrimination: Double?
    /// Per option, in the deck's order: how often it was chosen, and whether it is a correct option.
    public let options: [OptionCount]
    public let medianDurationMs: Double?

    public struct OptionCount: Sendable, Hashable, Codable {
        public let text: String
        public let correct: Bool
        public let chosen: Int
        public init(text: String, correct: Bool, chosen: Int) {
            self.text = text
            self.correct = correct
            self.chosen = chosen
        }
    }

    public init(
        deckID: String, position: Int, questionID: String, prompt: String, learners: Int, attempts: Int, facility: Double?, discrimination: Double?,
        options: [OptionCount], medianDurationMs: Double?
    ) {
        self.deckID = deckID
        self.position = position
        self.questionID = questionID
        self.prompt = prompt
        self.learners = learners
        self.attempts = attempts
        self.facility = facility
        self.discrimination = discrimination
        self.options = options
        self.medianDurationMs = medianDurationMs
    }
}

public struct WeakQuestion: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case questionID = "questionId", prompt, attempts, correctAttempts, lastAnsweredAt }

    public let questionID: String
    public let prompt: String
    public let attempts: Int
    public let correctAttempts: Int
    public let lastAnsweredAt: Int64

    public init(questionID: String, prompt: String, attempts: Int, correctAttempts: Int, lastAnsweredAt: Int64) {
        self.questionID = questionID
        self.prompt = prompt
        self.attempts = attempts
        self.correctAttempts = correctAttempts
        self.lastAnsweredAt = lastAnsweredAt
    }
}

public struct PublishedDeck: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case teamID = "teamId", deckID = "deckId", name, publishedAt }

    public let teamID: Int64
    public let deckID: String
    public let name: String
    public let publishedAt: Int64

    public init(teamID: Int64, deckID: String, name: String, publishedAt: Int64) {
        self.teamID = teamID
        self.deckID = deckID
        self.name = name
        self.publishedAt = publishedAt
    }
}
