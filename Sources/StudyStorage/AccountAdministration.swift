import StudyCore

/// A user as an operator sees them: the account and what it has done.
public struct UserSummary: Sendable, Equatable {
    public let user: UserRecord
    public let attempts: Int64
    /// Devices not revoked.
    public let devices: Int
    public let lastSeenAt: Int64?

    public init(user: UserRecord, attempts: Int64, devices: Int, lastSeenAt: Int64?) {
        self.user = user
        self.attempts = attempts
        self.devices = devices
        self.lastSeenAt = lastSeenAt
    }
}

/// What an operator does to accounts without SQL (`study-server users`, and admins over the API).
public protocol AccountAdministration: Sendable {
    /// Every user, by username.
    func userSummaries() async throws -> [UserSummary]
    /// Disables the account and revokes every token it has, in one transaction (or enables it again); nil when there is
    /// no such user.
    func setDisabled(username: String, _ disabled: Bool, at time: Int64) async throws -> UserRecord?
    /// Replaces the password hash and revokes every token, so each device logs in again; nil when there is no such user.
    func setPasswordHash(username: String, _ hash: String, at time: Int64) async throws -> UserRecord?
    /// Deletes the user and everything that is theirs (attempts, progress, devices, memberships, every aggregate and
    /// their part of the question reports) in one transaction. False when there is no such user.
    func deleteUser(username: String) async throws -> Bool
    /// Stores a server invite (registration by invitation): `maxUses` registrations until `expiresAt`.
    func createServerInvite(codeHash: [UInt8], maxUses: Int, expiresAt: Int64, createdBy: Int64?, at time: Int64) async throws
}
