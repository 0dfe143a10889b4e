import LibPQ
import StudyCore
import StudyStorage

extension PostgresStore: DashboardRepository {
    public func createWebSession(tokenHash: [UInt8], userID: Int64, expiresAt: Int64, at time: Int64) async throws {
        try await pool.withTransaction { tx in
            try await tx.query("DELETE FROM web_sessions WHERE user_id = \(userID) AND (expires_at <= \(time) OR revoked_at IS NOT NULL)")
            try await tx.query(
                """
                INSERT INTO web_sessions (token_hash, user_id, created_at, expires_at) VALUES (\(tokenHash), \(userID), \(time), \(expiresAt))
                """)
        }
    }

    public func webSessionUser(tokenHash: [UInt8], at time: Int64) async throws -> UserRecord? {
        let rows = try await pool.query(
            """
            SELECT u.id, u.username, u.display_name, u.password_hash, u.role, u.created_at, u.disabled_at
            FROM web_sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = \(tokenHash) AND s.revoked_at IS NULL AND s.expires_at > \(time) AND u.disabled_at IS NULL
            """)
        return try rows.first.map { try Self.user($0) }
    }

    public func revokeWebSession(tokenHash: [UInt8], at time: Int64) async throws {
        try await pool.query("UPDATE web_sessions SET revoked_at = COALESCE(revoked_at, \(time)) WHERE token_hash = \(tokenHash)")
    }

    public func revokeWebSessions(userID: Int64, at time: Int64) async throws {
        try await pool.query("UPDATE web_sessions SET revoked_at = \(time) WHERE user_id = \(userID) AND revoked_at IS NULL")
    }

    public func answersByDay(userID: Int64, timeZone: String, from: Int64, until: Int64) async throws -> [DailyAnswers] {
        try await pool.query(
            """
            SELECT to_char((to_timestamp(answered_at / 1000.0) AT TIME ZONE \(timeZone))::date, 'YYYY-MM-DD') AS day,
                   count(*)::bigint, (count(*) FILTER (WHERE correct))::bigint
            FROM attempts WHERE user_id = \(userID) AND answered_at >= \(from) AND answered_at < \(until)
            GROUP BY 1 ORDER BY 1
            """
        ).map { row in
            DailyAnswers(
                day: try row.decode(at: 0), attempts: Int(try row.decode(Int64.self, at: 1)), correct: Int(try row.decode(Int64.self, at: 2)))
        }
    }

    public func teamWeeks(team: TeamRecord, fromWeek: String) async throws -> [TeamWeek] {
        try await pool.query(
            """
            SELECT to_char(w.week, 'YYYY-MM-DD'), w.learners, w.attempts, w.correct FROM team_weeks(\(team.id), \(fromWeek)::date) w ORDER BY w.week
            """
        ).map { row in
            TeamWeek(
                week: try row.decode(at: 0), learners: Int(try row.decode(Int64.self, at: 1)), attempts: Int(try row.decode(Int64.self, at: 2)),
                correct: Int(try row.decode(Int64.self, at: 3)))
        }
    }
}
