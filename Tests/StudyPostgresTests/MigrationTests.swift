import Foundation
import LibPQ
import PostgresTestSupport
import StudyPostgres
import Testing

@Suite struct MigrationTests {
    @Test func aFreshDatabaseGetsEveryMigrationOnceAndARerunDoesNothing() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 2)
        try await withPool(pool) { pool async throws in
            let migrations = try Migration.bundled()
            #expect(migrations.map(\.name).first == "001_accounts.sql")
            #expect(migrations.count >= 6)
            let runner = MigrationRunner(pool: pool)
            #expect(try await runner.run(migrations) == migrations.map(\.name))
            #expect(try await runner.run(migrations) == [])
            let tables = try await pool.query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
            ).column(String.self)
            for table in [
                "users", "devices", "auth_tokens", "teams", "memberships", "invites", "decks", "question_versions", "deck_questions",
                "team_decks", "study_sessions", "attempts", "progress", "daily_question_activity", "daily_activity", "schema_migrations",
            ] {
                #expect(tables.contains(table), "missing table \(table)")
            }
            let recorded = try await pool.query("SELECT name, checksum FROM schema_migrations ORDER BY name")
            #expect(try recorded.map { try $0.decode(String.self, at: 0) } == migrations.map(\.name))
            #expect(try recorded.map { try $0.decode(String.self, at: 1) } == migrations.map(\.checksum))
        }
    }

    /// A server upgraded with attempts already stored: migration 010 fills the per-learner question statistics from
    /// them, equal to what the push path would have kept (checked against a rebuild from the attempts).
    @Test func migration010FillsTheStatisticsOfAttemptsAlreadyStored() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 2)
        try await withPool(pool) { pool async throws in
            let migrations = try Migration.bundled()
            let before = migrations.filter { $0.name < "010" }
            try await MigrationRunner(pool: pool).run(before)
            let user = try await pool.query(
                "INSERT INTO users (username, display_name, password_hash, created_at) VALUES ('old', 'Old', 'h', 1) RETURNING id"
            )
            .scalar(Int64.self)!
            // q1: wrong (option 2) then right twice; q2: right; one flagged attempt that must not count.
            let rows: [(String, String, Bool, Int64, Int64, Int32)] = [
                ("q1", "{2}", false, 5_000, 3_000, 0), ("q1", "{0}", true, 9_000, 4_000, 0), ("q1", "{0}", true, 7_000, 5_000, 0),
                ("q2", "{1,3}", true, 1_000, 6_000, 0), ("q2", "{0}", false, 500, 100, 2),
            ]
            for (seq, row) in rows.enumerated() {
                try await pool.query(
                    """
                    INSERT INTO attempts (user_id, seq, id, device_id, question_id, question_version, chosen, correct, answered_at, duration_ms, session_id,
                                          received_at, flags)
                    VALUES (\(user), \(seq + 1), \(UUID().uuidString)::uuid, \(UUID().uuidString)::uuid, \(row.0), 'v', \(row.1)::smallint[], \(row.2),
                            \(row.3), \(row.4), \(UUID().uuidString)::uuid, 1, \(row.5))
                    """)
            }
            try await MigrationRunner(pool: pool).run(migrations)
            let stats = try await pool.query(
                """
                SELECT question_id, attempts, correct_attempts, option_counts::text, duration_ms_sum, first_answered_at, first_correct, first_chosen::text,
                       first_duration_ms, last_answered_at
                FROM learner_question_stats ORDER BY question_id
                """
            ).map { row in (0..<row.count).map { row[$0] ?? "NULL" }.joined(separator: " ") }
            #expect(
                stats == [
                    "q1 3 2 {2,0,1,0,0,0,0,0,0,0} 12000 5000 f {2} 3000 9000",
                    "q2 1 1 {0,1,0,1,0,0,0,0,0,0} 6000 1000 t {1,3} 6000 1000",
                ])
        }
    }

    @Test func twoRunnersStartingAtOnceApplyEachMigrationOnce() async throws {
        let config = try await TestDatabase.fresh()
        try await withPool(PostgresPool(configuration: config, size: 1)) { a async throws in
            try await withPool(PostgresPool(configuration: config, size: 1)) { b async throws in
                let migrations = try Migration.bundled()
                async let first = MigrationRunner(pool: a).run(migrations)
                async let second = MigrationRunner(pool: b).run(migrations)
                let applied = try await [first, second]
                #expect(applied.map(\.count).sorted() == [0, migrations.count])
                #expect(try await a.query("SELECT count(*) FROM schema_migrations").scalar(Int.self) == migrations.count)
            }
        }
    }

    @Test func aChangedMigrationFileIsRefused() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            var migrations = try Migration.bundled()
            try await MigrationRunner(pool: pool).run(migrations)
            migrations[1] = Migration(name: migrations[1].name, sql: migrations[1].sql + "\n-- edited after release\n")
            await #expect {
                try await MigrationRunner(pool: pool).run(migrations)
            } throws: { error in
                "\(error)".hasPrefix("Migration 002_teams.sql has changed since it was applied")
            }
        }
    }

    @Test func aDatabaseFromANewerServerIsRefused() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let migrations = try Migration.bundled()
            try await MigrationRunner(pool: pool).run(migrations + [Migration(name: "999_future.sql", sql: "SELECT 1;")])
            await #expect {
                try await MigrationRunner(pool: pool).run(migrations)
            } throws: { "\($0)".contains("999_future.sql, which this server does not have") }
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let broken = [
                Migration(name: "001_ok.sql", sql: "CREATE TABLE ok (x int);"),
                Migration(name: "002_bad.sql", sql: "CREATE TABLE half (x int); SELECT 1/0;"),
            ]
            await #expect(throws: PostgresError.self) { try await MigrationRunner(pool: pool).run(broken) }
            #expect(try await pool.query("SELECT name FROM schema_migrations").column(String.self) == ["001_ok.sql"])
            #expect(try await pool.query("SELECT to_regclass('half')::text").scalar(String?.self) == .some(nil))
        }
    }

    /// A migration may take longer than the pool's statement timeout (an index over a large table, tables distributed on
    /// a busy Citus cluster): it runs without one, and the connection goes back to the pool with the timeout it had.
    @Test func aMigrationOutlastsTheStatementTimeoutAndTheTimeoutComesBack() async throws {
        var configuration = try await TestDatabase.fresh()
        configuration.statementTimeoutMs = 200
        let pool = PostgresPool(configuration: configuration, size: 1)
        try await withPool(pool) { pool async throws in
            await #expect(throws: PostgresError.self) { try await pool.query("SELECT pg_sleep(0.4)") }
            let slow = [Migration(name: "001_slow.sql", sql: "SELECT pg_sleep(0.4); CREATE TABLE slow (x int);")]
            #expect(try await MigrationRunner(pool: pool).run(slow) == ["001_slow.sql"])
            #expect(try await pool.query("SELECT current_setting('statement_timeout')").scalar(String.self) == "200ms")
        }
    }
}
