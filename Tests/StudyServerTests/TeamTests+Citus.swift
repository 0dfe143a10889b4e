import Foundation
import HummingbirdTesting
import LibPQ
import PostgresTestSupport
import StudyCore
import StudyPostgres
import Testing

extension TeamTests {
    /// What the database is, said by `/readyz`, and on Citus (`scripts/test-citus`) where the tables are and what a push
    /// costs: every table placed by learner or on every node, and a team member's push (sessions, attempts, progress,
    /// statistics, boards and the moves of the question-report sums) a transaction on the learner's node alone. A fold,
    /// which writes the sums on every node, is the check's counterpart: its commits have several participants.
    @Test func aPushIsATransactionOnTheLearnersShard() async throws {
        try await withFoldingOff { configuration, pool async throws in
            try await app(configuration).test(.router) { client in
                let ready = try await client.json(.get, "/readyz")
                #expect(ready.body["database"] as? String == (TestDatabase.isCitus ? "citus" : "postgresql"), "\(ready.body)")
                // Every member has pushed once: their device's "last seen" is this minute, so a push now writes no device row.
                let p = try await setUp(client)
                let store = PostgresStore(pool: pool)
                // An attempt id of another learner is refused, whether ids are unique in one index (one PostgreSQL) or
                // claimed in attempt_owners (Citus); the learner's own id sent again is a duplicate.
                let amy = try #require(try await pool.query("SELECT id FROM users WHERE username = 'amy'").scalar(Int64.self))
                let ben = try #require(try await pool.query("SELECT id FROM users WHERE username = 'ben'").scalar(Int64.self))
                let hers = attempt(5, true, at: Self.now - Self.hour, device: UUID().uuidString.lowercased())
                let first = try await store.insert([hers], flags: [[]], userID: amy, receivedAt: Self.now)
                guard case .inserted = first[0] else { return #expect(Bool(false), "\(first)") }
                let again = try await store.insert([hers], flags: [[]], userID: amy, receivedAt: Self.now)
                guard case .duplicate = again[0] else { return #expect(Bool(false), "\(again)") }
                let taken = try await store.insert([hers], flags: [[]], userID: ben, receivedAt: Self.now)
                guard case .rejected = taken[0] else { return #expect(Bool(false), "\(taken)") }
                guard TestDatabase.isCitus else {
                    #expect(try await store.topology() == .postgres)
                    return
                }
                #expect(try await store.topology().isCitus)

                let unplaced = try await pool.query(
                    """
                    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                      AND NOT EXISTS (SELECT 1 FROM pg_dist_partition d WHERE d.logicalrelid = c.oid AND (d.partmethod = 'h' OR d.repmodel = 't'))
                    ORDER BY 1
                    """
                ).column(String.self)
                #expect(unplaced == ["login_failures", "schema_migrations"])
                // A shard move (citus_rebalance_start) copies by logical replication: every distributed table needs a
                // replica identity: all its columns, a unique index named for it, or (the default) its primary key.
                let unidentified = try await pool.query(
                    """
                    SELECT c.relname FROM pg_dist_partition d JOIN pg_class c ON c.oid = d.logicalrelid
                    WHERE d.partmethod = 'h' AND NOT (c.relreplident = 'f'
                          OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident))
                          OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')))
                    ORDER BY 1
                    """
                ).column(String.self)
                #expect(unidentified.isEmpty, "no replica identity, so no shard move: \(unidentified)")
                let byLearner = try await pool.query(
                    """
                    SELECT d.logicalrelid::text FROM pg_dist_partition d
                    WHERE d.partmethod = 'h' AND d.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'attempts'::regclass)
                      AND column_to_column_name(d.logicalrelid, d.partkey) = 'user_id'
                    ORDER BY 1
                    """
                ).column(String.self)
                for table in [
                    "attempts", "learner_counters", "progress", "study_sessions", "learner_question_stats", "team_question_sum_moves", "devices",
                    "auth_tokens",
                ] {
                    #expect(byLearner.contains(table), "\(table) is not distributed by user_id beside attempts: \(byLearner)")
                }

                // The nodes each transaction committed in two phases since `after` (pg_dist_transaction, where the
                // coordinator records a two-phase commit's participants; scripts/test-citus keeps them, recovery off).
                @Sendable func participants(after: Int) async throws -> [[Int]] {
                    let rows = try await pool.query(
                        """
                        SELECT array_agg(groupid ORDER BY groupid)::text FROM pg_dist_transaction
                        WHERE split_part(gid, '_', 4)::bigint > \(after) GROUP BY split_part(gid, '_', 3), split_part(gid, '_', 4)
                        """
                    ).column(String.self)
                    return rows.map { $0.trimmingCharacters(in: ["{", "}"]).split(separator: ",").compactMap { Int($0) } }
                }
                let last =
                    try await pool.query("SELECT coalesce(max(split_part(gid, '_', 4)::bigint), 0) FROM pg_dist_transaction").scalar(Int.self) ?? 0
                // Twenty answers each: before its transaction a push claims its attempt ids (`attempt_owners`, by id),
                // a write to the shards of twenty ids, which lands on both workers (all twenty on one: p = 2^-19).
                func twenty(_ minute: Int) -> [(Int, Bool, String, Int64)] {
                    (0..<20).map { q in (q, q % 3 != 0, "2026-11-25T14:\(minute + q / 10):\(10 + q % 10)Z", Int64(3_000 + 100 * q)) }
                }
                try await push(client, p.amy, twenty(40))
                try await push(client, p.ben, twenty(42))
                #expect(try await pool.query("SELECT count(*) FROM team_question_sum_moves").scalar(Int.self) ?? 0 > 0)
                // A push's transaction writes on one worker over one connection: one participant. (Citus still commits
                // it in two phases there, as it does whatever a COPY wrote.) The claims have two.
                let recorded = try await participants(after: last)
                #expect(
                    recorded.filter { $0.count == 1 }.count == 2 && recorded.filter { $0.count > 1 }.count == 2,
                    "two pushes, each with its claim, should show two commits with one participant and two with more: \(recorded)")

                // The count of participants does move: a fold writes the sums on every node.
                let folds =
                    try await pool.query("SELECT coalesce(max(split_part(gid, '_', 4)::bigint), 0) FROM pg_dist_transaction").scalar(Int.self) ?? 0
                _ = try await store.foldQuestionSums(moves: 100, learners: 10)
                let folded = try await participants(after: folds)
                #expect(!folded.isEmpty && folded.allSatisfy { $0.count > 1 }, "\(folded)")
            }
        }
    }

    /// A learner's devices and tokens go where the learner's rows go (Citus: distributed by user_id, SQL/025): a token
    /// names its learner, so it is found on their shard; a token of the older form (random bits alone) is still found
    /// by its hash; a token whose learner was changed is refused. On Citus, a database placed by the earlier code
    /// (devices and tokens as reference tables) is moved by the next start's migrations, its tokens working on.
    @Test func devicesAndTokensFollowTheirLearner() async throws {
        let configuration = try await testConfiguration()
        guard case .url(let url) = configuration.database else { return #expect(Bool(false)) }
        let pool = PostgresPool(configuration: PostgresConfiguration(url: url), size: 1)
        try await withPool(pool) { pool async throws in
            try await app(configuration).test(.router) { client in
                let p = try await setUp(client)
                let amy = try #require(try await pool.query("SELECT id FROM users WHERE username = 'amy'").scalar(Int64.self))
                let ben = try #require(try await pool.query("SELECT id FROM users WHERE username = 'ben'").scalar(Int64.self))
                #expect(p.amy.hasPrefix("\(amy)."), "a token names its learner: \(p.amy)")
                let device = try #require(
                    try await pool.query("SELECT device_id::text FROM auth_tokens WHERE user_id = \(amy) LIMIT 1").scalar(String.self))
                let older = "olderFormTokenOfRandomBitsAlone0123456789abc"
                try await pool.query(
                    """
                    INSERT INTO auth_tokens (token_hash, user_id, device_id, created_at)
                    VALUES (\(SHA256.hash(Array(older.utf8))), \(amy), \(device)::uuid, 0)
                    """)
                let forged = "\(ben)." + p.amy.split(separator: ".", maxSplits: 1)[1]
                @Sendable func statuses() async throws -> [Int] {
                    var got: [Int] = []
                    for token in [p.amy, older, forged, "\(amy).", ".\(amy)", "0.x", "99999999999999999999.x"] {
                        got.append(Int(try await client.json(.get, "/v1/devices", token: token).status.code))
                    }
                    return got
                }
                #expect(try await statuses() == [200, 200, 401, 401, 401, 401, 401])
                guard TestDatabase.isCitus else { return }

                // As the earlier code placed them: reference tables keyed by id and by hash.
                for statement in [
                    "ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_device", "ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_user_id_fkey",
                    "ALTER TABLE devices DROP CONSTRAINT devices_user_id_fkey", "SELECT undistribute_table('auth_tokens')",
                    "SELECT undistribute_table('devices')", "ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_pkey",
                    "ALTER TABLE auth_tokens ADD PRIMARY KEY (token_hash)", "ALTER TABLE devices DROP CONSTRAINT devices_pkey",
                    "ALTER TABLE devices ADD PRIMARY KEY (id)", "ALTER TABLE devices ADD CONSTRAINT devices_user_id_id UNIQUE (user_id, id)",
                    "SELECT create_reference_table('devices')", "SELECT create_reference_table('auth_tokens')",
                    "ALTER TABLE devices ADD CONSTRAINT devices_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE",
                    "ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE",
                    """
                    ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_device FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, id)
                        ON DELETE CASCADE
                    """,
                ] {
                    try await pool.query(PostgresQuery(unsafeSQL: statement))
                }
                @Sendable func placement() async throws -> [String] {
                    try await pool.query(
                        """
                        SELECT logicalrelid::text || ' ' || CASE WHEN repmodel = 't' THEN 'reference' ELSE column_to_column_name(logicalrelid, partkey) END
                        FROM pg_dist_partition WHERE logicalrelid IN ('devices'::regclass, 'auth_tokens'::regclass) ORDER BY 1
                        """
                    ).column(String.self)
                }
                #expect(try await placement() == ["auth_tokens reference", "devices reference"])
                let counts = "SELECT (SELECT count(*) FROM devices) || '/' || (SELECT count(*) FROM auth_tokens)"
                let before = try await pool.query(PostgresQuery(unsafeSQL: counts)).scalar(String.self)
                try await MigrationRunner(pool: pool).run(try Migration.bundled())
                #expect(try await placement() == ["auth_tokens user_id", "devices user_id"])
                #expect(try await pool.query(PostgresQuery(unsafeSQL: counts)).scalar(String.self) == before)
                let keys = try await pool.query(
                    "SELECT conname FROM pg_constraint WHERE conrelid IN ('devices'::regclass, 'auth_tokens'::regclass) AND contype = 'f' ORDER BY 1"
                ).column(String.self)
                #expect(keys == ["auth_tokens_device", "auth_tokens_user_id_fkey", "devices_user_id_fkey"])
                #expect(try await statuses() == [200, 200, 401, 401, 401, 401, 401])
            }
        }
    }
}
