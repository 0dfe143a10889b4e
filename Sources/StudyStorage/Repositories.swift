import StudyCore

/// The server's storage ports: the records it keeps and the repositories its handlers are generic over, so they never
/// see SQL. `StudyPostgres` implements them over PostgreSQL. Nothing here reaches the CLI.

public struct UserRecord: Sendable, Hashable {
    public let id: Int64
    public let username: String
    public let displayName: String
    public let passwordHash: String
    public let role: Role
    public let createdAt: Int64
    /// When an admin disabled the account (it cannot log in, and its tokens were revoked then); nil while enabled.
    public let disabledAt: Int64?

    public init(id: Int64, username: String, displayName: String, passwordHash: String, role: Role, createdAt: Int64, disabledAt: Int64? = nil) {
        self.id = id
        self.username = username
        self.displayName = displayName
        self.passwordHash = passwordHash
        self.role = role
        self.createdAt = createdAt
        self.disabledAt = disabledAt
    }
}

/// What became of a registration.
public enum AccountOutcome: Sendable, Equatable {
    case created(UserRecord)
    case usernameTaken
    /// The server invite code given is unknown, expired or used up (registration by invitation).
    case inviteRefused
}

public struct DeviceRecord: Sendable, Hashable {
    public let id: String
    public let userID: Int64
    public let name: String
    public let createdAt: Int64
    public let lastSeenAt: Int64?
    public let clockOffsetMs: Int64?
    public let revokedAt: Int64?

    public init(id: String, userID: Int64, name: String, createdAt: Int64, lastSeenAt: Int64?, clockOffsetMs: Int64?, revokedAt: Int64?) {
        self.id = id
        self.userID = userID
        self.name = name
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.clockOffsetMs = clockOffsetMs
        self.revokedAt = revokedAt
    }
}

/// An attempt as the server stores it: the fact, its per-user sequence number, and the server's flags.
public struct StoredAttempt: Sendable, Hashable {
    public let seq: Int64
    public let attempt: Attempt
    public let flags: AttemptFlags

    public init(seq: Int64, attempt: Attempt, flags: AttemptFlags) {
        self.seq = seq
        self.attempt = attempt
        self.flags = flags
    }
}

/// One page of a pull.
public struct PullPage: Sendable, Hashable {
    public let attempts: [StoredAttempt]
    /// The cursor after this page.
    public let cursor: Int64
    public let hasMore: Bool

    public init(attempts: [StoredAttempt], cursor: Int64, hasMore: Bool) {
        self.attempts = attempts
        self.cursor = cursor
        self.hasMore = hasMore
    }
}

/// What became of one pushed attempt.
public enum PushOutcome: Sendable, Hashable {
    case inserted(seq: Int64)
    /// The same attempt was already stored; nothing changed. `ahead`: it was stored with the `ahead` flag.
    case duplicate(seq: Int64, ahead: Bool = false)
    /// A different attempt is stored under this id; neither is changed.
    case conflict
    /// Refused; the reason is safe to show the pushing user (it never names another user).
    case rejected(reason: String)
}

public protocol UserRepository: Sendable {
    /// Creates a user; nil when the username is taken.
    func createUser(username: String, displayName: String, passwordHash: String, role: Role, at time: Int64) async throws -> UserRecord?
    /// Registers an account: the first one on a server is its admin, every later one a learner. With `inviteCodeHash`,
    /// one use of that server invite is spent in the same transaction, and without a live one nothing is created; an
    /// account registered with an invite is always a learner (an operator makes admins: `study-server users add`).
    func createAccount(username: String, displayName: String, passwordHash: String, inviteCodeHash: [UInt8]?, at time: Int64) async throws
        -> AccountOutcome
    /// Gives a user a server role; nil when there is no such user.
    func setRole(username: String, role: Role) async throws -> UserRecord?
    /// The user with this username, if any.
    func user(named username: String) async throws -> UserRecord?
    /// The user with this id, if any.
    func user(id: Int64) async throws -> UserRecord?
}

public protocol DeviceRepository: Sendable {
    /// Registers a device for a user together with its first token's hash.
    func registerDevice(id: String, userID: Int64, name: String, tokenHash: [UInt8], expiresAt: Int64?, at time: Int64) async throws -> DeviceRecord
    /// The user's devices, oldest first.
    func devices(userID: Int64) async throws -> [DeviceRecord]
    /// Revokes a device of this user and all its tokens; false when the user has no such device.
    func revokeDevice(id: String, userID: Int64, at time: Int64) async throws -> Bool
    /// The user and device a live token hash belongs to (not revoked, not expired, device not revoked). `userID` is the
    /// learner the token names (tokens carry it, so that a sharded store looks on that learner's shard alone; the
    /// token is found only if it is theirs), nil for a token of the older form, which is looked up by its hash alone.
    func authenticate(tokenHash: [UInt8], userID: Int64?, at time: Int64) async throws -> (UserRecord, DeviceRecord)?
    /// Revokes one of the user's tokens (log out).
    func revokeToken(hash: [UInt8], userID: Int64, at time: Int64) async throws
    /// Records a device's sync time and measured clock offset.
    func recordSync(deviceID: String, userID: Int64, clockOffsetMs: Int64, at time: Int64) async throws
}

public protocol AttemptRepository: Sendable {
    /// Stores new attempts in one transaction, assigning per-user sequence numbers under the user's row lock; an
    /// attempt already stored is a duplicate, a different one under its id a conflict, another user's id rejected.
    /// The same transaction folds the stored ones into every cache (progress, statistics, leaderboard aggregates).
    /// `flags` holds each attempt's flags, in the same order.
    func insert(_ attempts: [Attempt], flags: [AttemptFlags], userID: Int64, receivedAt: Int64) async throws -> [PushOutcome]
    /// `insert(_:flags:userID:receivedAt:)` of a pushed page, with the study sessions it brings (pushed from `deviceID`)
    /// stored in the same transaction, so that a push commits once. Sessions already stored are left as they are.
    func insert(
        _ attempts: [Attempt], flags: [AttemptFlags], sessions: [StudySession], deviceID: String, userID: Int64, receivedAt: Int64
    ) async throws -> [PushOutcome]
    /// The user's attempts with sequence numbers above `cursor`, in order, at most `limit`, leaving out those that came
    /// from `excludingDevice` (the puller has them); the page's cursor passes the left-out ones too.
    func pull(userID: Int64, after cursor: Int64, limit: Int, excludingDevice: String?) async throws -> PullPage
    /// The highest sequence number handed out for the user (0 when none).
    func latestSequence(userID: Int64) async throws -> Int64
}

extension AttemptRepository {
    /// `insert(_:flags:userID:receivedAt:)` with each attempt beside its flags.
    public func insert(_ items: [(attempt: Attempt, flags: AttemptFlags)], userID: Int64, receivedAt: Int64) async throws -> [PushOutcome] {
        try await insert(items.map(\.attempt), flags: items.map(\.flags), userID: userID, receivedAt: receivedAt)
    }
}

public protocol ProgressRepository: Sendable {
    /// Recomputes and stores the fold of the user's attempts for these questions.
    func refreshProgress(userID: Int64, questionIDs: Set<String>, at time: Int64) async throws
    /// Folds newly stored attempts into the stored progress: on top of it when they all come after what it holds,
    /// from scratch for a question where one does not.
    func recordProgress(userID: Int64, newAttempts: [Attempt], at time: Int64) async throws
    /// The stored progress of every question the user has answered.
    func progress(userID: Int64) async throws -> [QuestionProgress]
}

public protocol DeckRepository: Sendable {
    /// Stores a deck and its question versions; storing the same deck again changes nothing.
    func storeDeck(_ deck: Deck, at time: Int64) async throws
    /// The question versions the server knows among `keys` (`AttemptReview.key`), keyed the same way.
    func questions(forKeys keys: Set<String>) async throws -> [String: Question]
}

/// A write the repository refused because it collides with another user's data.
public enum RepositoryConflict: Error, Sendable {
    case deviceOwnedByAnotherUser
}

public protocol SessionRepository: Sendable {
    /// Stores study sessions; ones already stored are left as they are.
    func storeSessions(_ sessions: [StudySession], userID: Int64, deviceID: String) async throws
}
