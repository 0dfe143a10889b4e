import Foundation
import LibPQ
import PostgresTestSupport
import StudyCore
import StudyPostgres
import Testing

/// Attempts that an older server stored before the bounds (issue 15) neither wedge their learner nor carry them into
/// the future once migration 014 has run: a duration near 2^63 no longer overflows the sums it is added to, and a stamp
/// a year after it arrived is marked `ahead` and folded out of progress.
@Suite struct StoredBeforeBoundsTests {
    @Test func migration014RepairsWhatAnOlderServerStored() async throws {
        let store = PostgresStore(pool: PostgresPool(configuration: try await TestDatabase.fresh(), size: 2))
        try await withPool(store.pool) { _ async throws in
            try await MigrationRunner(pool: store.pool).run(try Migration.bundled().filter { $0.name < "014" })
            // Written as the older server wrote it: the store's own statements are for the current schema.
            let userID = try #require(
                try await store.pool.query(
                    "INSERT INTO users (username, display_name, password_hash, role, created_at) VALUES ('old', 'Old', 'h', 'learner', 1) RETURNING id"
                ).scalar(Int64.self))
            let device = "00000000-0000-4000-8000-000000000001", session = "00000000-0000-4000-8000-00000000000a"
            let year: Int64 = 365 * 86_400_000
            try await store.pool.query("UPDATE users SET attempt_seq = 2 WHERE id = \(userID)")
            for (seq, question, answeredAt, duration) in [(Int64(1), "q1", Int64(1_000_000), Int64.max - 10), (2, "q2", 1_000_000 + year, 4_000)] {
                try await store.pool.query(
                    """
                    INSERT INTO attempts (user_id, seq, id, device_id, question_id, question_version, chosen, correct, answered_at, duration_ms,
                                          session_id, received_at, flags)
                    VALUES (\(userID), \(seq), \(uuid())::uuid, \(device)::uuid, \(question), 'v1', '{0}', true, \(answeredAt), \(duration),
                            \(session)::uuid, 1000000, 0)
                    """)
            }
            try await store.migrate()
            let flags = try await store.pool.query("SELECT flags FROM attempts WHERE user_id = \(userID) ORDER BY seq").map {
                try $0.decode(Int32.self, at: 0)
            }
            #expect(flags == [0, AttemptFlags([.clockSkew, .ahead]).rawValue])
            // The learner queued by the migration is rebuilt (without trapping on the duration), the ahead attempt left out.
            #expect(try await store.rebuildQueuedLearners(at: 2_000_000) == 1)
            #expect(try await store.rebuildQueuedLearners(at: 2_000_000) == 0)
            #expect(try await store.progress(userID: userID).map(\.questionID) == ["q1"])
            // Later answers to the same question are stored.
            let later = attempt(question: "q1", at: 3_000_000)
            #expect(try await store.insert([(later, [])], userID: userID, receivedAt: 3_000_000) == [.inserted(seq: 3)])
        }
    }
}
