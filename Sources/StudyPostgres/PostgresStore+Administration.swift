import LibPQ
import StudyCore
import StudyStorage

extension PostgresStore: AccountAdministration {
    public func userSummaries() async throws -> [UserSummary] {
        try await pool.query(
            """
            SELECT \(unsafeRaw: Self.userColumns), coalesce(c.attempt_seq, 0), coalesce(d.devices, 0), d.last_seen_at
            FROM users u
            LEFT JOIN (SELECT user_id, attempt_seq FROM learner_counters) c ON c.user_id = u.id
            LEFT JOIN (SELECT user_id, count(*) FILTER (WHERE revoked_at IS NULL) AS devices, max(last_seen_at) AS last_seen_at
                       FROM devices GROUP BY user_id) d ON d.user_id = u.id
            ORDER BY username
            """
        ).map { row in
            UserSummary(
                user: try Self.user(row), attempts: try row.decode(Int64.self, at: 7), devices: try row.decode(Int.self, at: 8),
                lastSeenAt: try row.decode(Int64?.self, at: 9))
        }
    }

    public func setDisabled(username: String, _ disabled: Bool, at time: Int64) async throws -> UserRecord? {
        try await pool.withTransaction { tx in
            guard
                let row = try await tx.query(
                    """
                    UPDATE users SET disabled_at = CASE WHEN \(disabled) THEN COALESCE(disabled_at, \(time)) END
                    WHERE username = \(username) RETURNING \(unsafeRaw: Self.userColumns)
                    """
                ).first
            else { return nil }
            let user = try Self.user(row)
            if disabled { try await Self.revokeTokens(of: user.id, at: time, on: tx) }
            return user
        }
    }

    public func setPasswordHash(username: String, _ hash: String, at time: Int64) async throws -> UserRecord? {
        try await pool.withTransaction { tx in
            guard
                let row = try await tx.query(
                    "UPDATE users SET password_hash = \(hash) WHERE username = \(username) RETURNING \(unsafeRaw: Self.userColumns)"
                ).first
            else { return nil }
            let user = try Self.user(row)
            try await Self.revokeTokens(of: user.id, at: time, on: tx)
            return user
        }
    }

    public func deleteUser(username: String) async throws -> Bool {
        guard let user = try await user(named: username) else { return false }
        return try await lockingUser(user.id) { tx in
            // Out of each team first, moving their part out of its question reports (as leaving does).
            for team in try await tx.query("SELECT team_id FROM memberships WHERE user_id = \(user.id) ORDER BY 1").column(Int64.self) {
                try await Self.changingQuestionParts(of: user.id, teamID: team, on: tx) {
                    _ = try await tx.query("DELETE FROM memberships WHERE team_id = \(team) AND user_id = \(user.id)")
                }
            }
            // `attempts` and `progress_rebuilds` have no foreign key to `users` (SQL/009); the rest would cascade, and
            // are named so that what goes is written here.
            for table in Self.tablesOfAUser {
                try await tx.query("DELETE FROM \(unsafeRaw: table) WHERE user_id = \(user.id)")
            }
            // On Citus, the claims of their attempt ids too (a query of every shard: `attempt_owners` is by id).
            if try await isDistributed() { try await tx.query("DELETE FROM attempt_owners WHERE user_id = \(user.id)") }
            return try await tx.query("DELETE FROM users WHERE id = \(user.id)").affectedRows == 1
        }
    }

    /// Every table with rows of one user (`user_id`), children first.
    static let tablesOfAUser = [
        "attempts", "progress", "progress_rebuilds", "learner_deck_totals", "learner_question_stats", "learner_question_stats_summed",
        "question_parts_pending", "daily_question_activity", "daily_activity",
        "weekly_activity",
        "monthly_activity", "activity_totals", "study_sessions", "auth_tokens", "devices",
    ]

    public func createServerInvite(codeHash: [UInt8], maxUses: Int, expiresAt: Int64, createdBy: Int64?, at time: Int64) async throws {
        try await pool.query(
            """
            INSERT INTO server_invites (code_hash, max_uses, expires_at, created_by, created_at)
            VALUES (\(codeHash), \(maxUses), \(expiresAt), \(createdBy), \(time))
            """)
    }

    static func revokeTokens(of userID: Int64, at time: Int64, on tx: PostgresConnection) async throws {
        try await tx.query("UPDATE auth_tokens SET revoked_at = COALESCE(revoked_at, \(time)) WHERE user_id = \(userID)")
    }
}
