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
            // No statement timeout while migrating: a schema change may rightly take long (an index built over a large
            // table, tables distributed on a busy Citus cluster), and a second server waits here for the first's. The
            // pool's timeout (30 s by default) comes back before the connection does.
            try await connection.query("SET statement_timeout = 0")
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
            do {
                let applied = try await apply(migrations, on: connection)
                try await distributeOnCitus(on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                try await connection.query("RESET statement_timeout")
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                _ = try? await connection.query("RESET statement_timeout")
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

    /// On a database with the citus extension, distributes the tables not distributed yet (`SQL/citus/distribute.sql`):
    /// by learner, or on every node. On plain PostgreSQL it does nothing.
    private func distributeOnCitus(on connection: PostgresConnection) async throws {
        guard try await DatabaseTopology.read(on: connection).isCitus else { return }
        guard let url = Bundle.module.url(forResource: "distribute", withExtension: "sql", subdirectory: "SQL/citus") else {
            throw MigrationError("The Citus distribution plan is missing from the installation (StudySync_StudyPostgres.resources/SQL/citus).")
        }
        try await connection.execute(script: try String(contentsOf: url, encoding: .utf8))
        logger.debug("tables distributed on Citus")
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

/// What the server's database is: one PostgreSQL, or the coordinator of a Citus cluster (issue 21, SCALING.md).
public enum DatabaseTopology: Sendable, Equatable, CustomStringConvertible {
    case postgres
    /// Citus `version`, with `workers` active worker nodes.
    case citus(version: String, workers: Int)

    public var isCitus: Bool { if case .citus = self { true } else { false } }

    /// "postgresql" or "citus": what `/readyz` and the logs name.
    public var name: String { isCitus ? "citus" : "postgresql" }

    public var description: String {
        switch self {
        case .postgres: "PostgreSQL"
        case .citus(let version, let workers): "Citus \(version), \(workers) worker\(workers == 1 ? "" : "s")"
        }
    }

    /// Whether the database has the citus extension: a Citus coordinator (one query, without the workers).
    public static func isCitus(_ pool: PostgresPool) async throws -> Bool {
        try await pool.query("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')").scalar(Bool.self) ?? false
    }

    static func read(on connection: PostgresConnection) async throws -> DatabaseTopology {
        guard let version = try await connection.query("SELECT extversion FROM pg_extension WHERE extname = 'citus'").scalar(String.self) else {
            return .postgres
        }
        let workers =
            try await connection.query("SELECT count(*) FROM pg_dist_node WHERE isactive AND noderole = 'primary' AND groupid <> 0")
            .scalar(Int.self) ?? 0
        return .citus(version: version, workers: workers)
    }
}
