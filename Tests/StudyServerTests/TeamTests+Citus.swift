import Foundation
import HummingbirdTesting
import LibPQ
import PostgresTestSupport
import StudyPostgres
import Testing

extension TeamTests {
    /// What the database is, said by `/readyz`, and on Citus (`scripts/test-citus`) where the tables are and what a push
    /// costs: every table placed by learner or on every node, and a team member's push (sessions, attempts, progress,
    /// statistics, boards and the moves of the question-report sums) a transaction on the learner's node alone. A fold,
    /// which writes the sums on every node, is the check's counterpart: its commits have several participants.
    @Test func aPushIsATransactionOnTheLearnersShard() async throws {
        var configuration = try await testConfiguration()
        configuration.foldsQuestionSums = false
        guard case .url(let url) = configuration.database else { return #expect(Bool(false)) }
        let pool = PostgresPool(configuration: PostgresConfiguration(url: url), size: 1)
        try await withPool(pool) { pool async throws in
            try await app(configuration).test(.router) { client in
                let ready = try await client.json(.get, "/readyz")
                #expect(ready.body["database"] as? String == (TestDatabase.isCitus ? "citus" : "postgresql"), "\(ready.body)")
                // Every member has pushed once: their device's "last seen" is this minute, so a push now writes no device row.
                let p = try await setUp(client)
                let store = PostgresStore(pool: pool)
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
                let byLearner = try await pool.query(
                    """
                    SELECT d.logicalrelid::text FROM pg_dist_partition d
                    WHERE d.partmethod = 'h' AND d.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'attempts'::regclass)
                      AND column_to_column_name(d.logicalrelid, d.partkey) = 'user_id'
                    ORDER BY 1
                    """
                ).column(String.self)
                for table in ["attempts", "learner_counters", "progress", "study_sessions", "learner_question_stats", "team_question_sum_moves"] {
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
                let last = try await pool.query("SELECT coalesce(max(split_part(gid, '_', 4)::bigint), 0) FROM pg_dist_transaction").scalar(Int.self) ?? 0
                try await push(client, p.amy, [(3, true, "2026-11-25T14:40:00Z", 5_000), (4, false, "2026-11-25T14:41:00Z", 7_000)])
                try await push(client, p.ben, [(3, false, "2026-11-25T14:42:00Z", 9_000), (0, true, "2026-11-25T14:43:00Z", 3_000)])
                #expect(try await pool.query("SELECT count(*) FROM team_question_sum_moves").scalar(Int.self) ?? 0 > 0)
                // A push writes on one worker over one connection. Citus still commits in two phases there when a
                // statement is an INSERT … SELECT it runs through the coordinator (the upserts from the page's arrays): one
                // participant, never two.
                let pushes = try await participants(after: last)
                #expect(!pushes.isEmpty && pushes.allSatisfy { $0.count == 1 }, "a push wrote on more than one node or connection: \(pushes)")

                // The check can fail: a fold writes the sums on every node.
                let folds = try await pool.query("SELECT coalesce(max(split_part(gid, '_', 4)::bigint), 0) FROM pg_dist_transaction").scalar(Int.self) ?? 0
                _ = try await store.foldQuestionSums(moves: 100, learners: 10)
                let folded = try await participants(after: folds)
                #expect(!folded.isEmpty && folded.allSatisfy { $0.count > 1 }, "\(folded)")
            }
        }
    }
}
