import LibPQ
import PostgresTestSupport
import Testing

@testable import StudyPostgres

@Suite struct WarmingTests {
    @Test func warmingOpensThePoolOnTheCurrentSchemaAndWritesNothing() async throws {
        let store = try await migratedStore(poolSize: 3)
        // Every statement runs against the migrated schema (a table or function renamed by a migration fails here).
        try await store.warmConnections()
        #expect(await store.pool.openConnections == 3)
        // The script in a transaction of its own: a statement that wrote a row or locked one would have given the
        // transaction an id.
        let wrote = try await store.pool.withTransaction { connection in
            try await connection.execute(script: PostgresStore.warmingScript)
            return try await connection.query("SELECT pg_current_xact_id_if_assigned() IS NOT NULL").scalar(Bool.self)
        }
        #expect(wrote == false)
        // And the check can tell: a write in the same place gives the transaction an id.
        let control = try await store.pool.withTransaction { connection in
            try await connection.execute(script: PostgresStore.warmingScript + "\nCREATE TEMP TABLE warming_control (x int) ON COMMIT DROP;")
            return try await connection.query("SELECT pg_current_xact_id_if_assigned() IS NOT NULL").scalar(Bool.self)
        }
        #expect(control == true)
    }
}

@Suite struct PlanCacheTests {
    /// The leaderboard's and the reports' statements are planned once per connection on one PostgreSQL (SQL/031:
    /// planning them for each call's arguments took a fifth to a third of a board's read; SQL/032: the plans made for
    /// a report's first calls were slow ones) and for each call's arguments on Citus, whose planner needs them
    /// (SQL/citus/distribute.sql); the rows are the same either way (TeamTests, DashboardTests).
    @Test func theBoardsAndReportsKeepOnePlanOnOnePostgreSQLAndPlanEachCallOnCitus() async throws {
        let store = try await migratedStore(poolSize: 1)
        let settings = try await store.pool.query(
            """
            SELECT coalesce(array_to_string(proconfig, ','), '') FROM pg_proc
            WHERE oid IN ('team_leaderboard(bigint, date, date, date, bigint, boolean, integer)'::regprocedure,
                          'team_board(bigint, text, integer, bigint, bigint, boolean, integer)'::regprocedure,
                          'team_learner_report(bigint, bigint, bigint)'::regprocedure, 'team_weeks(bigint, date)'::regprocedure)
            """
        ).column(String.self)
        let expected = TestDatabase.isCitus ? "plan_cache_mode=force_custom_plan" : "plan_cache_mode=force_generic_plan"
        #expect(settings == [expected, expected, expected, expected])
    }
}
