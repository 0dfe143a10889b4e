import EmbeddedPostgres
import Foundation
import HummingbirdBcrypt
import LibPQ
import Logging
import StudyCore
import StudyPostgres
import StudyStorage

/// A failed operator command, as a sentence that says what to do.
public struct OperationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What `study-server`'s operator commands do (`migrate`, `users`, `backup`, `restore`), on the configured database;
/// the server need not run. With the private PostgreSQL, a running server's is borrowed, or it is started for the
/// command and stopped after.
public enum ServerOperations {
    /// Runs `body` with a pool and a store on the configured database.
    public static func withDatabase<T: Sendable>(
        _ configuration: ServerConfiguration, logger: Logger, _ body: (PostgresPool, PostgresStore, Connection) async throws -> T
    ) async throws -> T {
        let embedded: LocalPostgres?
        let connection: Connection
        switch configuration.database {
        case .url(let url):
            embedded = nil
            connection = Connection(url: url, binaries: nil)
        case .embedded(let directory):
            let server = try LocalPostgres.startPersistent(dataDirectory: directory)
            embedded = server
            connection = Connection(url: server.url, binaries: server.binaries)
        }
        let pool = PostgresPool(configuration: PostgresConfiguration(url: connection.url), size: 2, logger: logger)
        do {
            let result = try await body(pool, PostgresStore(pool: pool), connection)
            await pool.close()
            try embedded?.stop()
            return result
        } catch {
            await pool.close()
            try? embedded?.stop()
            throw error
        }
    }

    /// Where the database is, for PostgreSQL's own programs.
    public struct Connection: Sendable {
        /// A libpq URL.
        public let url: String
        /// The folder of the private PostgreSQL's programs; nil for a database of the operator's.
        public let binaries: URL?
    }

    // MARK: migrations

    /// Applies the pending migrations (checksums checked, one runner at a time under the advisory lock), then rebuilds
    /// what a migration queued. Returns the names applied.
    @discardableResult
    static func migrate(pool: PostgresPool, store: PostgresStore, logger: Logger, at time: Int64) async throws -> [String] {
        let applied = try await MigrationRunner(pool: pool, logger: logger).run(try Migration.bundled())
        let rebuilt = try await store.rebuildQueuedLearners(at: time)
        if rebuilt > 0 { logger.notice("rebuilt the progress a migration changed", metadata: ["learners": "\(rebuilt)"]) }
        return applied
    }

    /// `study-server migrate`.
    public static func migrate(_ configuration: ServerConfiguration, logger: Logger) async throws -> [String] {
        try await withDatabase(configuration, logger: logger) { pool, store, _ in
            try await migrate(pool: pool, store: store, logger: logger, at: now())
        }
    }

    // MARK: users

    public static func users(_ configuration: ServerConfiguration, logger: Logger) async throws -> [UserSummary] {
        try await withDatabase(configuration, logger: logger) { pool, store, _ in
            try await requireCurrentSchema(pool)
            return try await store.userSummaries()
        }
    }

    /// Adds an account with `role`; refused when the name or password breaks the rules or the name is taken.
    public static func addUser(
        _ configuration: ServerConfiguration, username: String, password: String, displayName: String?, role: Role, logger: Logger
    ) async throws -> UserRecord {
        try check(username: username, password: password)
        let hash = Bcrypt.hash(password, cost: configuration.bcryptCost)
        return try await withDatabase(configuration, logger: logger) { pool, store, _ in
            try await requireCurrentSchema(pool)
            guard
                let user = try await store.createUser(
                    username: username, displayName: displayName ?? username, passwordHash: hash, role: role, at: now())
            else { throw OperationError("The username '\(username)' is taken: choose another ('study-server users list' shows them).") }
            return user
        }
    }

    public static func setRole(_ configuration: ServerConfiguration, username: String, role: Role, logger: Logger) async throws -> UserRecord {
        try await withUser(configuration, username, logger) { store in try await store.setRole(username: username, role: role) }
    }

    public static func setDisabled(_ configuration: ServerConfiguration, username: String, _ disabled: Bool, logger: Logger) async throws
        -> UserRecord
    {
        try await withUser(configuration, username, logger) { store in try await store.setDisabled(username: username, disabled, at: now()) }
    }

    /// Sets a new password and revokes every token of the user.
    public static func resetPassword(_ configuration: ServerConfiguration, username: String, password: String, logger: Logger) async throws
        -> UserRecord
    {
        if let problem = AccountRules.passwordProblem(password) { throw OperationError(problem) }
        let hash = Bcrypt.hash(password, cost: configuration.bcryptCost)
        return try await withUser(configuration, username, logger) { store in try await store.setPasswordHash(username: username, hash, at: now()) }
    }

    public static func deleteUser(_ configuration: ServerConfiguration, username: String, logger: Logger) async throws {
        try await withDatabase(configuration, logger: logger) { pool, store, _ in
            try await requireCurrentSchema(pool)
            guard try await store.deleteUser(username: username) else { throw noSuchUser(username) }
        }
    }

    /// Writes every attempt of the user to `file` as JSON Lines, one attempt per line, in `study backup`'s form (which
    /// `study backup import` reads). Returns how many.
    public static func exportUser(_ configuration: ServerConfiguration, username: String, to file: String, logger: Logger) async throws -> Int {
        let lines = try await withDatabase(configuration, logger: logger) { pool, store, _ in
            try await requireCurrentSchema(pool)
            guard let user = try await store.user(named: username) else { throw noSuchUser(username) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var lines: [String] = []
            var cursor: Int64 = 0
            while true {
                let page = try await store.pull(userID: user.id, after: cursor, limit: 5_000, excludingDevice: nil)
                for stored in page.attempts { lines.append(String(decoding: try encoder.encode(stored.attempt), as: UTF8.self)) }
                cursor = page.cursor
                if !page.hasMore { break }
            }
            return lines
        }
        let text = lines.map { $0 + "\n" }.joined()
        do {
            if file == "-" {
                FileHandle.standardOutput.write(Data(text.utf8))
            } else {
                try text.write(toFile: file, atomically: true, encoding: .utf8)
            }
        } catch {
            throw OperationError("Cannot write \(file): \(error.localizedDescription).")
        }
        return lines.count
    }

    /// Makes a server invite code (for `--registration invite`): `uses` registrations within `days`.
    public static func createInvite(_ configuration: ServerConfiguration, uses: Int, days: Int, logger: Logger) async throws -> String {
        guard (1...10_000).contains(uses) else { throw OperationError("--uses must be between 1 and 10000.") }
        guard (1...365).contains(days) else { throw OperationError("--days must be between 1 and 365.") }
        let code = Tokens.inviteCode()
        try await withDatabase(configuration, logger: logger) { pool, store, _ in
            try await requireCurrentSchema(pool)
            let time = now()
            try await store.createServerInvite(
                codeHash: Tokens.hash(code), maxUses: uses, expiresAt: time + Int64(days) * 86_400_000, createdBy: nil, at: time)
        }
        return code
    }

    static func check(username: String, password: String) throws {
        if let problem = AccountRules.usernameProblem(username) { throw OperationError(problem) }
        if let problem = AccountRules.passwordProblem(password) { throw OperationError(problem) }
    }

    private static func withUser(
        _ configuration: ServerConfiguration, _ username: String, _ logger: Logger, _ change: (PostgresStore) async throws -> UserRecord?
    ) async throws -> UserRecord {
        try await withDatabase(configuration, logger: logger) { pool, store, _ in
            try await requireCurrentSchema(pool)
            guard let user = try await change(store) else { throw noSuchUser(username) }
            return user
        }
    }

    static func noSuchUser(_ username: String) -> OperationError {
        OperationError("There is no user '\(username)': 'study-server users list' shows them.")
    }

    /// Operator commands change nothing on a database this version has not migrated.
    static func requireCurrentSchema(_ pool: PostgresPool) async throws {
        let pending = try await MigrationRunner(pool: pool).pending(try Migration.bundled())
        guard pending.isEmpty else {
            throw OperationError("The database lacks migrations \(pending.joined(separator: ", ")): run 'study-server migrate' first.")
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}
