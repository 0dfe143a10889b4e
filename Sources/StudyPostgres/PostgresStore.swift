import LibPQ
import StudyCore
import StudyStorage

/// The server's repositories over one PostgreSQL connection pool. Every statement binds its values; a transaction never
/// spans more than one user (the schema is ready to shard by user).
public struct PostgresStore: Sendable {
    public let pool: PostgresPool
    /// Where the boards and reports are read, when not on the primary: a standby (`--read-database-url`).
    let reads: ReadReplica?
    /// Whether the database is a Citus coordinator, read once.
    let distribution = Distribution()

    public init(pool: PostgresPool, readPool: PostgresPool? = nil, maxReadLagMs: Int64 = 30_000) {
        self.pool = pool
        reads = readPool.map { ReadReplica(pool: $0, maxLagMs: maxReadLagMs) }
    }

    /// Whether the tables are distributed (Citus): then an attempt id is unique per learner only, and a push looks its
    /// ids up among every learner's before storing them (`Push.swift`).
    func isDistributed() async throws -> Bool {
        try await distribution.isCitus { try await DatabaseTopology.isCitus(pool) }
    }

    /// Runs a read that may be a little stale (a board, a report) on the standby when there is one that is up and
    /// less than `maxReadLagMs` behind; else, and whenever the standby fails, on the primary. It never fails for the
    /// standby's sake.
    func reading<T: Sendable>(_ body: (PostgresPool) async throws -> T) async throws -> T {
        if let reads, await reads.isUsable() {
            do {
                return try await body(reads.pool)
            } catch let error as PostgresError where error.failure == .unavailable || error.kind == .server {
                await reads.failed()
            }
        }
        return try await body(pool)
    }

    /// The advisory lock key that serialises registrations ("studysync registration").
    static let registrationLock: Int64 = 0x5354_5544_5952_4547

    /// Applies the bundled migrations (see `MigrationRunner`).
    public func migrate() async throws {
        try await MigrationRunner(pool: pool).run(try Migration.bundled())
    }

    /// Runs `body` in a transaction, again from the start when PostgreSQL reports a serialization failure, a deadlock or
    /// a unique violation raced by another transaction, up to `attempts` times.
    func retrying<T: Sendable>(attempts: Int = 5, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await pool.withTransaction(body)
            } catch let error as PostgresError where (error.isRetryable || error.kind == .uniqueViolation) && attempt < attempts {
                attempt += 1
            }
        }
    }
}

extension PostgresStore: UserRepository {
    public func createUser(username: String, displayName: String, passwordHash: String, role: Role, at time: Int64) async throws -> UserRecord? {
        try await pool.withTransaction { tx in
            let rows = try await tx.query(
                """
                INSERT INTO users (username, display_name, password_hash, role, created_at)
                VALUES (\(username), \(displayName), \(passwordHash), \(role.rawValue), \(time))
                ON CONFLICT (username) DO NOTHING
                RETURNING \(unsafeRaw: Self.userColumns)
                """)
            guard let user = try rows.first.map({ try Self.user($0) }) else { return nil }
            try await Self.makeCounters(of: user.id, on: tx)
            return user
        }
    }

    /// The new learner's row of `learner_counters` (SQL/021): their sequence counter, whose row lock is theirs. A
    /// statement of its own: on Citus the users are on every node and the counters on the learner's shard.
    static func makeCounters(of userID: Int64, on tx: PostgresConnection) async throws {
        try await tx.query("INSERT INTO learner_counters (user_id) VALUES (\(userID))")
    }

    public func createAccount(username: String, displayName: String, passwordHash: String, inviteCodeHash: [UInt8]?, at time: Int64) async throws
        -> AccountOutcome
    {
        struct AccountTaken: Error {}
        do {
            return try await createAccount(username, displayName, passwordHash, inviteCodeHash, time, taken: AccountTaken())
        } catch is AccountTaken {
            return .usernameTaken
        }
    }

    private func createAccount(
        _ username: String, _ displayName: String, _ passwordHash: String, _ inviteCodeHash: [UInt8]?, _ time: Int64, taken: some Error & Sendable
    ) async throws -> AccountOutcome {
        try await retrying { tx in
            // Registrations queue here for a moment (and nothing else does), so two at once on an empty server cannot
            // both become its admin: the second sees the first's row once it has the lock.
            try await tx.query("SELECT pg_advisory_xact_lock(\(Self.registrationLock))")
            if let inviteCodeHash {
                let spent = try await tx.query(
                    """
                    UPDATE server_invites SET uses = uses + 1
                    WHERE code_hash = \(inviteCodeHash) AND uses < max_uses AND expires_at > \(time)
                    """
                ).affectedRows
                guard spent == 1 else { return .inviteRefused }
            }
            let rows = try await tx.query(
                """
                INSERT INTO users (username, display_name, password_hash, role, created_at)
                SELECT \(username), \(displayName), \(passwordHash),
                       CASE WHEN \(inviteCodeHash == nil) AND NOT EXISTS (SELECT 1 FROM users) THEN 'admin' ELSE 'learner' END, \(time)
                ON CONFLICT (username) DO NOTHING
                RETURNING \(unsafeRaw: Self.userColumns)
                """)
            guard let row = rows.first else {
                // Taken: thrown, so that the rollback gives the invite's use back.
                throw taken
            }
            let user = try Self.user(row)
            try await Self.makeCounters(of: user.id, on: tx)
            return .created(user)
        }
    }

    public func setRole(username: String, role: Role) async throws -> UserRecord? {
        try await pool.query("UPDATE users SET role = \(role.rawValue) WHERE username = \(username) RETURNING \(unsafeRaw: Self.userColumns)")
            .first.map { try Self.user($0) }
    }

    public func user(named username: String) async throws -> UserRecord? {
        try await pool.query("SELECT \(unsafeRaw: Self.userColumns) FROM users WHERE username = \(username)").first.map { try Self.user($0) }
    }

    public func user(id: Int64) async throws -> UserRecord? {
        try await pool.query("SELECT \(unsafeRaw: Self.userColumns) FROM users WHERE id = \(id)").first.map { try Self.user($0) }
    }

    static let userColumns = "id, username, display_name, password_hash, role, created_at, disabled_at"

    static func user(_ row: PostgresRow, offset: Int = 0) throws -> UserRecord {
        let roleName = try row.decode(String.self, at: offset + 4)
        guard let role = Role(rawValue: roleName) else { throw PostgresError(kind: .decoding, message: "Unknown role \(roleName).") }
        return UserRecord(
            id: try row.decode(at: offset), username: try row.decode(at: offset + 1), displayName: try row.decode(at: offset + 2),
            passwordHash: try row.decode(at: offset + 3), role: role, createdAt: try row.decode(at: offset + 5),
            disabledAt: try row.decode(at: offset + 6))
    }
}

extension PostgresStore: DeviceRepository {
    public func registerDevice(id: String, userID: Int64, name: String, tokenHash: [UInt8], expiresAt: Int64?, at time: Int64) async throws
        -> DeviceRecord
    {
        try await pool.withTransaction { tx in
            // A device id is the home's for one account. The look-up by id alone is what refuses another account's on
            // Citus, where devices are keyed by (learner, id); on one PostgreSQL devices_pkey also refuses one that two
            // accounts register at the same moment.
            if let owner = try await tx.query("SELECT user_id FROM devices WHERE id = \(id)::uuid LIMIT 1").scalar(Int64.self), owner != userID {
                throw RepositoryConflict.deviceOwnedByAnotherUser
            }
            // Logging in again from the same home reuses its device id: the device keeps its history and gains a token.
            let rows: PostgresRows
            do {
                rows = try await tx.query(
                    """
                    INSERT INTO devices AS d (id, user_id, name, created_at) VALUES (\(id)::uuid, \(userID), \(name), \(time))
                    ON CONFLICT (user_id, id) DO UPDATE SET name = excluded.name
                    RETURNING \(unsafeRaw: Self.deviceColumns)
                    """)
            } catch let error as PostgresError where error.kind == .uniqueViolation {
                throw RepositoryConflict.deviceOwnedByAnotherUser
            }
            try await tx.query(
                """
                INSERT INTO auth_tokens (token_hash, user_id, device_id, created_at, expires_at)
                VALUES (\(tokenHash), \(userID), \(id)::uuid, \(time), \(expiresAt))
                """)
            return try Self.device(rows[0])
        }
    }

    public func devices(userID: Int64) async throws -> [DeviceRecord] {
        try await pool.query("SELECT \(unsafeRaw: Self.deviceColumns) FROM devices WHERE user_id = \(userID) ORDER BY created_at, id").map {
            try Self.device($0)
        }
    }

    public func revokeDevice(id: String, userID: Int64, at time: Int64) async throws -> Bool {
        try await pool.withTransaction { tx in
            let changed = try await tx.query(
                "UPDATE devices SET revoked_at = COALESCE(revoked_at, \(time)) WHERE id = \(id)::uuid AND user_id = \(userID)"
            ).affectedRows
            try await tx.query(
                "UPDATE auth_tokens SET revoked_at = COALESCE(revoked_at, \(time)) WHERE device_id = \(id)::uuid AND user_id = \(userID)")
            return changed == 1
        }
    }

    public func authenticate(tokenHash: [UInt8], userID: Int64?, at time: Int64) async throws -> (UserRecord, DeviceRecord)? {
        // With the learner's id, a statement on their shard (Citus); without it (a token of the older form), on all.
        let columns = """
            SELECT u.id, u.username, u.display_name, u.password_hash, u.role, u.created_at, u.disabled_at,
                   d.id::text, d.user_id, d.name, d.created_at, d.last_seen_at, d.clock_offset_ms, d.revoked_at
            FROM auth_tokens t JOIN users u ON u.id = t.user_id JOIN devices d ON d.user_id = t.user_id AND d.id = t.device_id
            """
        let live = "t.revoked_at IS NULL AND d.revoked_at IS NULL AND u.disabled_at IS NULL"
        let rows =
            if let userID {
                try await pool.query(
                    """
                    \(unsafeRaw: columns) WHERE t.user_id = \(userID) AND t.token_hash = \(tokenHash) AND \(unsafeRaw: live)
                      AND (t.expires_at IS NULL OR t.expires_at > \(time))
                    """)
            } else {
                try await pool.query(
                    """
                    \(unsafeRaw: columns) WHERE t.token_hash = \(tokenHash) AND \(unsafeRaw: live) AND (t.expires_at IS NULL OR t.expires_at > \(time))
                    """)
            }
        guard let row = rows.first else { return nil }
        return (try Self.user(row), try Self.device(row, offset: 7))
    }

    public func revokeToken(hash: [UInt8], userID: Int64, at time: Int64) async throws {
        try await pool.query("UPDATE auth_tokens SET revoked_at = COALESCE(revoked_at, \(time)) WHERE user_id = \(userID) AND token_hash = \(hash)")
    }

    public func recordSync(deviceID: String, userID: Int64, clockOffsetMs: Int64, at time: Int64) async throws {
        try await pool.query(
            "UPDATE devices SET last_seen_at = \(time), clock_offset_ms = \(clockOffsetMs) WHERE user_id = \(userID) AND id = \(deviceID)::uuid")
    }

    static let deviceColumns = "id::text, user_id, name, created_at, last_seen_at, clock_offset_ms, revoked_at"

    static func device(_ row: PostgresRow, offset: Int = 0) throws -> DeviceRecord {
        DeviceRecord(
            id: try row.decode(at: offset), userID: try row.decode(at: offset + 1), name: try row.decode(at: offset + 2),
            createdAt: try row.decode(at: offset + 3), lastSeenAt: try row.decode(at: offset + 4), clockOffsetMs: try row.decode(at: offset + 5),
            revokedAt: try row.decode(at: offset + 6))
    }
}

extension PostgresStore: ReadinessCheck {
    /// Throws unless PostgreSQL answers a query now (the server's readiness check).
    public func checkReachable() async throws -> String {
        try await DatabaseTopology.isCitus(pool) ? DatabaseTopology.citus(version: "", workers: 0).name : DatabaseTopology.postgres.name
    }

    /// What the database is: one PostgreSQL or a Citus coordinator, with its workers.
    public func topology() async throws -> DatabaseTopology {
        try await pool.withConnection { try await DatabaseTopology.read(on: $0) }
    }
}

extension PostgresStore {
    /// Opens the connection pool's connections at start and readies each for what a sync does (`PostgresPool.warm`):
    /// a request that opens a connection waits for a new backend, whose first statements build its catalog caches and
    /// compile the push's function (the first sync with nothing new after a start took 8 ms instead of 3:
    /// docs/benchmarks.md).
    public func warmConnections() async throws {
        try await pool.warm(running: Self.warmingScript)
    }

    /// The tables and indexes a login, a push and a pull read or write, read for learner 0, whom no account is (ids
    /// start at 1), and the push's function (SQL/029) run for them, which returns before it writes for a learner in no
    /// team: the script writes nothing, on one PostgreSQL as on Citus.
    static let warmingScript = """
        SELECT 1 FROM users u JOIN devices d ON d.user_id = u.id JOIN auth_tokens t ON t.user_id = u.id WHERE u.id = 0;
        SELECT 1 FROM learner_counters WHERE user_id = 0;
        SELECT 1 FROM study_sessions WHERE user_id = 0 LIMIT 1;
        SELECT 1 FROM attempts WHERE user_id = 0 AND seq > 0 ORDER BY seq LIMIT 1;
        SELECT 1 FROM attempts WHERE id = '00000000-0000-0000-0000-000000000000';
        SELECT 1 FROM progress WHERE user_id = 0 LIMIT 1;
        SELECT 1 FROM learner_question_stats WHERE user_id = 0 LIMIT 1;
        SELECT 1 FROM team_decks td JOIN memberships m ON m.team_id = td.team_id WHERE m.user_id = 0;
        SELECT begin_team_push(0, 0, 0, NULL::text[]);
        """
}

/// Whether the database is a Citus coordinator: asked once, then remembered (a database does not stop being one).
actor Distribution {
    private var known: Bool?

    func isCitus(_ ask: () async throws -> Bool) async throws -> Bool {
        if let known { return known }
        let answer = try await ask()
        known = answer
        return answer
    }
}

/// A standby for reads, checked for lag at most every few seconds and set aside for a while when it fails.
actor ReadReplica {
    let pool: PostgresPool
    let maxLagMs: Int64
    private var checkedAt: ContinuousClock.Instant?
    private var usable = false

    init(pool: PostgresPool, maxLagMs: Int64) {
        self.pool = pool
        self.maxLagMs = maxLagMs
    }

    func isUsable() async -> Bool {
        let now = ContinuousClock.now
        if let checkedAt, now - checkedAt < .seconds(5) { return usable }
        checkedAt = now
        // On a standby, how long since the last transaction it replayed (0 when it has replayed everything it was sent
        // and the primary is idle: then `pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()`); 0 on a primary.
        let lag = try? await pool.query(
            """
            SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                        ELSE (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint END
            """
        ).scalar(Int64.self)
        usable = lag.map { $0 <= maxLagMs } ?? false
        return usable
    }

    /// A read failed here: the primary takes the reads until the next check.
    func failed() {
        usable = false
        checkedAt = ContinuousClock.now
    }
}
