import Foundation
import LibPQ
import Logging
import StudyCore

/// One numbered, forward-only migration file from `SQL/`.
public struct Migration: Sendable, Hashable {
    public let name: String
    public let sql: String
    /// SHA-256 of the file's text.
    public let checksum: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hex(sql)
    }

    /// The migrations shipped with the server (`SQL/NNN_*.sql`), in order.
    public static func bundled() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "SQL", withExtension: nil) else {
            throw MigrationError("The SQL migrations are missing from the installation (StudySync_StudyPostgres.resources/SQL).")
        }
        return try load(from: directory)
    }

    /// Every `NNN_name.sql` file in `directory`, sorted by name.
    public static func load(from directory: URL) throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") && $0.first?.isNumber == true }
            .sorted()
        return try names.map { Migration(name: $0, sql: try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)) }
    }
}

public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Applies migrations in order, each in its own transaction, recording name and checksum in `schema_migrations`.
///
/// Safe when several servers start at once: a session-level advisory lock lets one runner work while the others wait,
/// then find nothing left to do. Refuses to start over an applied migration whose file has changed, or over a database
/// that has migrations this server does not know (it is newer than this server).
public struct MigrationRunner: Sendable {
    /// An arbitrary constant naming StudySync's migration lock.
    static let advisoryLockKey: Int64 = 0x5354_5544_5953_4E43

    let pool: PostgresPool
    let logger: Logger

    public init(pool: PostgresPool, logger: Logger = Logger(label: "studysync.migrations")) {
        self.pool = pool
        self.logger = logger
    }

    /// Returns the names of the migrations this call applied.
    @discardableResult
    public func run(_ migrations: [Migration]) async throws -> [String] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            do {
                let applied = try await apply(migrations, on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                throw error
            }
        }
    }

    /// The names of the migrations `run` would apply, after the same checks; applies nothing and takes no lock.
    public func pending(_ migrations: [Migration]) async throws -> [String] {
        try await pool.withConnection { connection in
            let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL").scalar(Bool.self) ?? false
            guard exists else { return migrations.map(\.name) }
            let recorded = try await check(migrations, on: connection)
            return migrations.filter { recorded[$0.name] == nil }.map(\.name)
        }
    }

    /// The recorded migrations, by name, with their checksums, after checking them against `migrations`.
    private func check(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [String: String] {
        let rows = try await connection.query("SELECT name, checksum FROM schema_migrations ORDER BY name")
        var recorded: [String: String] = [:]
        for row in rows { recorded[try row.decode(String.self, at: 0)] = try row.decode(String.self, at: 1) }

        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.name, $0) })
        if let unknown = recorded.keys.sorted().first(where: { known[$0] == nil }) {
            throw MigrationError(
                "The database has migration \(unknown), which this server does not have: it was migrated by a newer StudySync. Run that version or newer."
            )
        }
        for migration in migrations {
            if let checksum = recorded[migration.name], checksum != migration.checksum {
                throw MigrationError(
                    "Migration \(migration.name) has changed since it was applied (checksum \(checksum.prefix(12)) in the database, \(migration.checksum.prefix(12)) in the file). Migrations are forward-only: restore the file and put the change in a new numbered migration."
                )
            }
        }
        return recorded
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [String] {
        try await connection.query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, checksum text NOT NULL, applied_at bigint NOT NULL)")
        let recorded = try await check(migrations, on: connection)
        var applied: [String] = []
        for migration in migrations where recorded[migration.name] == nil {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            try await connection.withTransaction { tx in
                try await tx.execute(script: migration.sql)
                try await tx.query(
                    "INSERT INTO schema_migrations (name, checksum, applied_at) VALUES (\(migration.name), \(migration.checksum), \(now))")
            }
            logger.debug("applied migration", metadata: ["migration": "\(migration.name)"])
            applied.append(migration.name)
        }
        return applied
    }
}
