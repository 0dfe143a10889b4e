import StudyCore

// The team, deck, leaderboard and report calls' bodies (PROTOCOL.md, "Teams, decks, the leaderboard and reports").

/// `POST /v1/teams`.
public struct CreateTeamRequest: Codable, Sendable {
    public let name: String
    public let timeZone: String?
    public let weekStart: Int?

    public init(name: String, timeZone: String? = nil, weekStart: Int? = nil) {
        self.name = name
        self.timeZone = timeZone
        self.weekStart = weekStart
    }
}

/// A team, with the caller's role in it.
public struct TeamView: Codable, Sendable {
    public let id: Int64
    public let name: String
    public let timeZone: String
    public let weekStart: Int
    public let createdAt: Int64
    public let role: String?

    public init(id: Int64, name: String, timeZone: String, weekStart: Int, createdAt: Int64, role: String? = nil) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.weekStart = weekStart
        self.createdAt = createdAt
        self.role = role
    }
}

/// `GET /v1/teams`.
public struct TeamList: Codable, Sendable {
    public let teams: [TeamView]

    public init(teams: [TeamView]) {
        self.teams = teams
    }
}

/// `GET /v1/teams/{team}/members`.
public struct MemberList: Codable, Sendable {
    public let members: [TeamMember]

    public init(members: [TeamMember]) {
        self.members = members
    }
}

/// `POST /v1/teams/{team}/invites`.
public struct CreateInviteRequest: Codable, Sendable {
    public let role: String?
    public let maxUses: Int?
    public let expiresInHours: Int?

    public init(role: String? = nil, maxUses: Int? = nil, expiresInHours: Int? = nil) {
        self.role = role
        self.maxUses = maxUses
        self.expiresInHours = expiresInHours
    }
}

/// A new invite; the code is shown once.
public struct InviteView: Codable, Sendable {
    public let code: String
    public let teamId: Int64
    public let role: String
    public let maxUses: Int
    public let expiresAt: Int64

    public init(code: String, teamId: Int64, role: String, maxUses: Int, expiresAt: Int64) {
        self.code = code
        self.teamId = teamId
        self.role = role
        self.maxUses = maxUses
        self.expiresAt = expiresAt
    }
}

/// `POST /v1/teams/join`.
public struct JoinRequest: Codable, Sendable {
    public let code: String

    public init(code: String) {
        self.code = code
    }
}

/// A question of a published deck, as sent.
public struct QuestionBody: Codable, Sendable {
    public let prompt: String
    public let options: [String]
    public let correct: [Int]

    public init(prompt: String, options: [String], correct: [Int]) {
        self.prompt = prompt
        self.options = options
        self.correct = correct
    }
}

/// `POST /v1/teams/{team}/decks`.
public struct PublishDeckRequest: Codable, Sendable {
    public let name: String
    public let questions: [QuestionBody]

    public init(name: String, questions: [QuestionBody]) {
        self.name = name
        self.questions = questions
    }
}

/// The answer to a publish.
public struct PublishedView: Codable, Sendable {
    public let deck: PublishedDeck

    public init(deck: PublishedDeck) {
        self.deck = deck
    }
}

/// `GET /v1/decks`.
public struct DeckList: Codable, Sendable {
    public let decks: [PublishedDeck]

    public init(decks: [PublishedDeck]) {
        self.decks = decks
    }
}

/// `GET /v1/decks/{deck}`.
public struct DeckView: Codable, Sendable {
    public let id: String
    public let name: String
    public let questions: [Question]

    public init(id: String, name: String, questions: [Question]) {
        self.id = id
        self.name = name
        self.questions = questions
    }
}

/// One row of a leaderboard.
public struct BoardRowView: Codable, Sendable {
    public let rank: Int
    public let userId: Int64
    public let displayName: String
    public let points: Int
    public let answered: Int
    public let accuracy: Double?
    public let streak: Int
    public let mastered: Int
    public let you: Bool

    public init(
        rank: Int, userId: Int64, displayName: String, points: Int, answered: Int, accuracy: Double? = nil, streak: Int, mastered: Int, you: Bool
    ) {
        self.rank = rank
        self.userId = userId
        self.displayName = displayName
        self.points = points
        self.answered = answered
        self.accuracy = accuracy
        self.streak = streak
        self.mastered = mastered
        self.you = you
    }
}

/// `GET /v1/teams/{team}/leaderboard`.
public struct BoardView: Codable, Sendable {
    public let teamId: Int64
    public let window: String
    public let from: String?
    public let until: String?
    public let rows: [BoardRowView]

    public init(teamId: Int64, window: String, from: String? = nil, until: String? = nil, rows: [BoardRowView]) {
        self.teamId = teamId
        self.window = window
        self.from = from
        self.until = until
        self.rows = rows
    }
}

/// `GET /v1/teams/{team}/reports/learners`.
public struct LearnerReportView: Codable, Sendable {
    public let teamId: Int64
    public let learners: [LearnerReportRow]

    public init(teamId: Int64, learners: [LearnerReportRow]) {
        self.teamId = teamId
        self.learners = learners
    }
}

/// `GET /v1/teams/{team}/reports/questions`.
public struct QuestionReportView: Codable, Sendable {
    public let teamId: Int64
    public let attempts: String
    public let questions: [QuestionReportRow]

    public init(teamId: Int64, attempts: String, questions: [QuestionReportRow]) {
        self.teamId = teamId
        self.attempts = attempts
        self.questions = questions
    }
}

/// `GET /v1/teams/{team}/reports/learners/{username}`.
public struct LearnerDetailView: Codable, Sendable {
    public let teamId: Int64
    public let learner: LearnerReportRow
    public let weakQuestions: [WeakQuestion]
    public let recent: [Attempt]

    public init(teamId: Int64, learner: LearnerReportRow, weakQuestions: [WeakQuestion], recent: [Attempt]) {
        self.teamId = teamId
        self.learner = learner
        self.weakQuestions = weakQuestions
        self.recent = recent
    }
}

/// `PUT /v1/users/{username}/role`.
public struct SetRoleRequest: Codable, Sendable {
    public let role: String

    public init(role: String) {
        self.role = role
    }
}

/// The answer to a role change.
public struct RoleView: Codable, Sendable {
    public let username: String
    public let role: String

    public init(username: String, role: String) {
        self.username = username
        self.role = role
    }
}

/// `PUT /v1/me/leaderboard`, and its answer.
public struct VisibilityBody: Codable, Sendable {
    public let optOut: Bool

    public init(optOut: Bool) {
        self.optOut = optOut
    }
}
