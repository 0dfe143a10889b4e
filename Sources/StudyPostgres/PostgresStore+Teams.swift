import LibPQ
import StudyCore
import StudyStorage

extension PostgresStore: TeamRepository {
    static let teamColumns = "t.id, t.name, t.time_zone, t.week_start, t.created_at"

    static func team(_ row: PostgresRow, offset: Int = 0) throws -> TeamRecord {
        TeamRecord(
            id: try row.decode(at: offset), name: try row.decode(at: offset + 1), timeZone: try row.decode(at: offset + 2),
            weekStart: try row.decode(at: offset + 3), createdAt: try row.decode(at: offset + 4))
    }

    static func teamRole(_ text: String) throws -> TeamRole {
        guard let role = TeamRole(rawValue: text) else { throw PostgresError(kind: .decoding, message: "Unknown team role '\(text)'.") }
        return role
    }

    public func createTeam(name: String, timeZone: String, weekStart: Int, creatorID: Int64, bundledDeckIDs: [String], at time: Int64) async throws
        -> TeamRecord
    {
        try await retrying { tx in
            let team = try await Self.team(
                try await tx.query(
                    """
                    INSERT INTO teams AS t (name, time_zone, week_start, created_by, created_at)
                    VALUES (\(name), \(timeZone), \(weekStart), \(creatorID), \(time)) RETURNING \(unsafeRaw: Self.teamColumns)
                    """)[0])
            try await tx.query("INSERT INTO memberships (team_id, user_id, role, joined_at) VALUES (\(team.id), \(creatorID), 'instructor', \(time))")
            let decks = try await tx.query(
                """
                INSERT INTO team_decks (team_id, deck_id, deck_name, published_by, published_at)
                SELECT \(team.id), d.id, d.name, \(creatorID), \(time) FROM decks d WHERE d.id = ANY(\(PostgresArray(bundledDeckIDs))::text[])
                RETURNING deck_id
                """
            ).column(String.self)
            // A call per deck, not one per row of a query of team_decks: on Citus that query may run on a worker, where the
            // function's own queries of distributed tables cannot.
            for deck in decks { try await tx.query("SELECT rebuild_team_question_sums(\(team.id), \(deck))") }
            return team
        }
    }

    public func team(id: Int64, roleOf userID: Int64) async throws -> (team: TeamRecord, role: TeamRole?)? {
        try await pool.query(
            """
            SELECT \(unsafeRaw: Self.teamColumns), m.role FROM teams t LEFT JOIN memberships m ON m.team_id = t.id AND m.user_id = \(userID)
            WHERE t.id = \(id)
            """
        ).first.map { row in (try Self.team(row), try row.decode(String?.self, at: 5).map(Self.teamRole)) }
    }

    public func teams(userID: Int64, all: Bool) async throws -> [(team: TeamRecord, role: TeamRole?)] {
        try await pool.query(
            """
            SELECT \(unsafeRaw: Self.teamColumns), m.role FROM teams t LEFT JOIN memberships m ON m.team_id = t.id AND m.user_id = \(userID)
            WHERE m.user_id IS NOT NULL OR \(all) ORDER BY t.id
            """
        ).map { row in (try Self.team(row), try row.decode(String?.self, at: 5).map(Self.teamRole)) }
    }

    public func isKnownTimeZone(_ name: String) async throws -> Bool {
        try await pool.query("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = \(name))").scalar(Bool.self) ?? false
    }

    public func createInvite(codeHash: [UInt8], teamID: Int64, role: TeamRole, maxUses: Int, expiresAt: Int64, createdBy: Int64, at time: Int64)
        async throws
    {
        try await pool.query(
            """
            INSERT INTO invites (code_hash, team_id, role, max_uses, expires_at, created_by, created_at)
            VALUES (\(codeHash), \(teamID), \(role.rawValue), \(maxUses), \(expiresAt), \(createdBy), \(time))
            """)
    }

    public func join(codeHash: [UInt8], userID: Int64, at time: Int64) async throws -> JoinOutcome {
        // The user's lock first, as every push takes it: the aggregates rebuilt below must not miss a concurrent push.
        try await lockingUser(userID) { tx in
            let rows = try await tx.query(
                "SELECT team_id, role, max_uses, uses, expires_at FROM invites WHERE code_hash = \(codeHash) FOR UPDATE")
            guard let invite = rows.first else { return .unknownCode }
            let teamID = try invite.decode(Int64.self, at: 0)
            let role = try Self.teamRole(try invite.decode(at: 1))
            guard
                let team = try await tx.query("SELECT \(unsafeRaw: Self.teamColumns) FROM teams t WHERE t.id = \(teamID)").first.map({
                    try Self.team($0)
                })
            else {
                return .unknownCode
            }
            if let current = try await tx.query("SELECT role FROM memberships WHERE team_id = \(teamID) AND user_id = \(userID)").scalar(String.self)
            {
                return .alreadyMember(team, try Self.teamRole(current))
            }
            guard try invite.decode(Int64.self, at: 4) > time else { return .expired }
            guard try invite.decode(Int.self, at: 3) < invite.decode(Int.self, at: 2) else { return .usedUp }
            try await tx.query("UPDATE invites SET uses = uses + 1 WHERE code_hash = \(codeHash)")
            try await Self.changingQuestionParts(of: userID, teamID: teamID, on: tx) {
                try await tx.query(
                    "INSERT INTO memberships (team_id, user_id, role, joined_at) VALUES (\(teamID), \(userID), \(role.rawValue), \(time))")
            }
            try await rebuildActivity(tx, userID: userID, timeZone: team.timeZone)
            return .joined(team, role)
        }
    }

    public func leave(teamID: Int64, userID: Int64) async throws -> Bool {
        try await lockingUser(userID) { tx in
            try await Self.changingQuestionParts(of: userID, teamID: teamID, on: tx) {
                try await tx.query("DELETE FROM memberships WHERE team_id = \(teamID) AND user_id = \(userID)").affectedRows == 1
            }
        }
    }

    public func members(teamID: Int64) async throws -> [TeamMember] {
        try await pool.query(
            """
            SELECT u.id, u.username, u.display_name, m.role, m.joined_at FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.team_id = \(teamID) ORDER BY m.role DESC, u.display_name, u.id
            """
        ).map { row in
            TeamMember(
                userID: try row.decode(at: 0), username: try row.decode(at: 1), displayName: try row.decode(at: 2),
                role: try Self.teamRole(try row.decode(at: 3)),
                joinedAt: try row.decode(at: 4))
        }
    }

    public func setLeaderboardOptOut(userID: Int64, optOut: Bool) async throws {
        try await pool.query("UPDATE users SET leaderboard_opt_out = \(optOut) WHERE id = \(userID)")
    }

    public func leaderboard(
        teamID: Int64, window: LeaderboardWindow, offset: Int, callerID: Int64, showEveryone: Bool, limit: Int, at time: Int64
    ) async throws -> Leaderboard {
        // The window's days in the team's zone, [from, until) (NULL for `all`, which reads the all-time totals), come with
        // every row of the board (SQL/031).
        let rows = try await reading { pool in
            try await pool.query(
                """
                SELECT rank, user_id, display_name, points, attempts, correct, streak, mastered, from_day, until_day
                FROM team_board(\(teamID), \(window.rawValue), \(offset), \(time), \(callerID), \(showEveryone), \(limit))
                """)
        }
        let from = try rows.first?.decode(String?.self, at: 8)
        let until = try rows.first?.decode(String?.self, at: 9)
        let board = try rows.map { row in
            LeaderboardRow(
                rank: try row.decode(at: 0), userID: try row.decode(at: 1), displayName: try row.decode(at: 2), points: try row.decode(at: 3),
                answered: try row.decode(at: 4), correct: try row.decode(at: 5), streak: try row.decode(at: 6), mastered: try row.decode(at: 7),
                isCaller: try row.decode(Int64.self, at: 1) == callerID)
        }
        return Leaderboard(window: window, from: from, until: until, rows: board)
    }

    public func learnerReport(teamID: Int64, userID: Int64?, at time: Int64) async throws -> [LearnerReportRow] {
        try await reading { pool in
            try await pool.query(
                """
                SELECT user_id, username, display_name, questions_attempted, attempts, accuracy, mastered, due, streak, last_active_at, inactive
                FROM team_learner_report(\(teamID), \(time), \(userID)::bigint) ORDER BY display_name, user_id
                """
            )
        }.map { row in
            LearnerReportRow(
                userID: try row.decode(at: 0), username: try row.decode(at: 1), displayName: try row.decode(at: 2),
                questionsAttempted: try row.decode(at: 3),
                attempts: try row.decode(at: 4), accuracy: try row.decode(at: 5), mastered: try row.decode(at: 6), due: try row.decode(at: 7),
                streak: try row.decode(at: 8), lastActiveAt: try row.decode(at: 9), inactive: try row.decode(at: 10))
        }
    }

    public func questionReport(teamID: Int64, deckID: String?, firstAttemptsOnly: Bool) async throws -> [QuestionReportRow] {
        let query: PostgresQuery = """
            SELECT r.deck_id, r.question_position, r.question_id, v.prompt, v.options::text[], r.learners, r.attempts, r.facility, r.discrimination,
                   r.option_chosen::text, r.correct_options::text, r.duration_histogram::text
            FROM team_decks td
            CROSS JOIN LATERAL team_question_sums_report(td.team_id, td.deck_id, \(firstAttemptsOnly)) r
            JOIN deck_questions dq ON dq.deck_id = r.deck_id AND dq.position = r.question_position
            JOIN question_versions v ON v.question_id = dq.question_id AND v.version = dq.version
            WHERE td.team_id = \(teamID) AND (\(deckID)::text IS NULL OR td.deck_id = \(deckID)::text)
            ORDER BY td.published_at, td.deck_id, r.question_position
            """
        // On Citus the team's lock (shared; a fold takes it exclusively) is taken before the statement that reads the sums
        // starts: the sums on the coordinator are read in that statement's snapshot, which must not predate a fold's
        // commit that the moves read on the workers already show (SQL/022, team_question_sums_current).
        let rows =
            try await isDistributed()
            ? try await pool.withTransaction { tx in
                try await tx.query("SELECT lock_teams(ARRAY[\(teamID)]::bigint[])")
                return try await tx.query(query)
            }
            : try await reading { try await $0.query(query) }
        return try rows.map { row in
            let options = try PostgresTextArray.parse(try row.decode(String.self, at: 4))
            let chosen = try row.decode(String?.self, at: 9).map { try PostgresTextArray.parse($0).map { Int($0) ?? 0 } } ?? []
            let correct = Set(try PostgresTextArray.parse(try row.decode(String.self, at: 10)).compactMap { Int($0) })
            return QuestionReportRow(
                deckID: try row.decode(at: 0), position: try row.decode(at: 1), questionID: try row.decode(at: 2), prompt: try row.decode(at: 3),
                learners: try row.decode(at: 5), attempts: try row.decode(at: 6), facility: try row.decode(at: 7),
                discrimination: try row.decode(at: 8),
                options: options.enumerated().map { i, text in
                    .init(text: text, correct: correct.contains(i), chosen: i < chosen.count ? chosen[i] : 0)
                },
                medianDurationMs: try row.decode(String?.self, at: 11).flatMap { try DurationHistogram.median(ofText: $0) })
        }
    }

    public func weakQuestions(userID: Int64, limit: Int) async throws -> [WeakQuestion] {
        try await reading { pool in
            try await pool.query(
                """
                SELECT s.question_id, coalesce((SELECT v.prompt FROM question_versions v WHERE v.question_id = s.question_id LIMIT 1), ''),
                       s.attempts, s.correct_attempts, s.last_answered_at
                FROM learner_question_stats s WHERE s.user_id = \(userID) AND s.correct_attempts < s.attempts
                ORDER BY s.correct_attempts::double precision / s.attempts, s.attempts DESC, s.question_id LIMIT \(limit)
                """
            )
        }.map { row in
            WeakQuestion(
                questionID: try row.decode(at: 0), prompt: try row.decode(at: 1), attempts: try row.decode(at: 2),
                correctAttempts: try row.decode(at: 3),
                lastAnsweredAt: try row.decode(at: 4))
        }
    }

    public func recentAttempts(userID: Int64, limit: Int) async throws -> [StoredAttempt] {
        try await pool.query(
            "SELECT \(unsafeRaw: Self.pullColumns) FROM attempts WHERE user_id = \(userID) ORDER BY answered_at DESC, id DESC LIMIT \(limit)"
        ) { result throws(PostgresError) in try Self.storedAttempts(result) }
    }

    public func publishDeck(_ deck: Deck, teamID: Int64, by userID: Int64, at time: Int64) async throws {
        try await storeDeck(deck, at: time)
        try await retrying { tx in
            // The team's lock, exclusive: a member's push takes it shared to change the team's question-report sums.
            try await tx.query("SELECT lock_teams(ARRAY[\(teamID)]::bigint[], true)")
            // A deck published again under the same name replaces the team's earlier version of it (and its sums).
            try await tx.query("DELETE FROM team_decks WHERE team_id = \(teamID) AND deck_name = \(deck.name) AND deck_id <> \(deck.id)")
            try await tx.query(
                """
                INSERT INTO team_decks (team_id, deck_id, deck_name, published_by, published_at)
                VALUES (\(teamID), \(deck.id), \(deck.name), \(userID), \(time))
                ON CONFLICT (team_id, deck_id) DO UPDATE SET deck_name = excluded.deck_name, published_by = excluded.published_by,
                    published_at = excluded.published_at
                """)
            try await tx.query("SELECT rebuild_team_question_sums(\(teamID), \(deck.id))")
        }
    }

    public func publishedDecks(userID: Int64) async throws -> [PublishedDeck] {
        try await pool.query(
            """
            SELECT td.team_id, td.deck_id, td.deck_name, td.published_at FROM team_decks td JOIN memberships m ON m.team_id = td.team_id
            WHERE m.user_id = \(userID) ORDER BY td.published_at, td.team_id, td.deck_id
            """
        ).map { row in
            PublishedDeck(
                teamID: try row.decode(at: 0), deckID: try row.decode(at: 1), name: try row.decode(at: 2), publishedAt: try row.decode(at: 3))
        }
    }

    public func deck(id: String) async throws -> Deck? {
        guard let name = try await pool.query("SELECT name FROM decks WHERE id = \(id)").scalar(String.self) else { return nil }
        let questions = try await pool.query(
            """
            SELECT v.prompt, v.options::text[], v.correct::text FROM deck_questions dq
            JOIN question_versions v ON v.question_id = dq.question_id AND v.version = dq.version
            WHERE dq.deck_id = \(id) ORDER BY dq.position
            """
        ).map { row in
            Question(
                prompt: try row.decode(at: 0), options: try PostgresTextArray.parse(try row.decode(String.self, at: 1)),
                correct: try PostgresTextArray.parse(try row.decode(String.self, at: 2)).compactMap { Int($0) })
        }
        return Deck(name: name, questions: questions)
    }

    /// Rebuilds the learners a migration queued in `progress_rebuilds` (one whose rule for what counts changed), each
    /// in its own transaction, and returns how many there were.
    public func rebuildQueuedLearners(at time: Int64) async throws -> Int {
        let queued = try await pool.query("SELECT user_id FROM progress_rebuilds ORDER BY user_id").map { try $0.decode(Int64.self, at: 0) }
        for userID in queued {
            try await rebuildAggregates(userID: userID, at: time)
            try await pool.query("DELETE FROM progress_rebuilds WHERE user_id = \(userID)")
        }
        return queued.count
    }

    /// Rebuilds every cache derived from one learner's attempts: progress, per-question statistics, and the board
    /// aggregates in every time zone of their teams. The caches are folds of the attempts (ARCHITECTURE.md, invariant 3),
    /// so this gives what the push path keeps up to date row by row; an operator runs it after loading attempts in bulk.
    public func rebuildAggregates(userID: Int64, at time: Int64) async throws {
        try await lockingUser(userID) { tx in
            let stored = try await tx.query("SELECT \(unsafeRaw: Self.pullColumns) FROM attempts WHERE user_id = \(userID) ORDER BY seq") {
                result throws(PostgresError) in try Self.storedAttempts(result)
            }
            try await Self.changingQuestionParts(of: userID, on: tx) {
                try await tx.query("DELETE FROM learner_question_stats WHERE user_id = \(userID)")
                try await updateQuestionStats(tx, userID: userID, attempts: stored.filter { $0.flags.isEmpty }.map(\.attempt))
            }
            try await tx.query("DELETE FROM progress WHERE user_id = \(userID)")
            try await tx.query("UPDATE learner_counters SET mastered_count = 0 WHERE user_id = \(userID)")
            let counted = stored.filter { !$0.flags.contains(.ahead) }.map(\.attempt)
            try await Self.upsert(Array(Progress.foldAll(counted).values), userID: userID, at: time, on: tx)
            for zone in try await Self.timeZones(ofTeamsOf: userID, on: tx) { try await rebuildActivity(tx, userID: userID, timeZone: zone) }
        }
    }

    /// Rebuilds the learner's board aggregates in one time zone from all their attempts (on joining a team; the user's
    /// row is locked by the caller).
    func rebuildActivity(_ tx: PostgresConnection, userID: Int64, timeZone: String) async throws {
        try await tx.query("DELETE FROM daily_question_activity WHERE user_id = \(userID) AND time_zone = \(timeZone)")
        try await tx.query("DELETE FROM daily_activity WHERE user_id = \(userID) AND time_zone = \(timeZone)")
        try await tx.query("DELETE FROM monthly_activity WHERE user_id = \(userID) AND time_zone = \(timeZone)")
        try await tx.query("DELETE FROM weekly_activity WHERE user_id = \(userID) AND time_zone = \(timeZone)")
        try await tx.query("DELETE FROM activity_totals WHERE user_id = \(userID) AND time_zone = \(timeZone)")
        let latest = try await tx.query("SELECT attempt_seq FROM learner_counters WHERE user_id = \(userID)").scalar(Int64.self) ?? 0
        try await updateDailyActivity(tx, userID: userID, seqAbove: 0, upTo: latest, zones: [timeZone])
    }
}

extension PostgresStore {
    /// Folds into the teams' question-report sums and boards what pushes left for them, and says how many moves and
    /// learners it folded. Reports and boards are exact without it (they add what is not folded yet); it keeps them
    /// cheap.
    ///
    /// Every learner with something to fold is folded, up to `learnerBatches` times `learners` of them: a learner who
    /// syncs several times between two calls is folded once for all (SQL/027), so a caller that calls again at once only
    /// when that many were folded lets them coalesce. Two ways, the same sums. In batches (SQL/018, 027): the parts
    /// pushes left pending, five learners per transaction (each holds their locks, and their pushes wait, until it
    /// commits), then up to `moves` of the changes appended, then the moved deck totals, `learners` per transaction. Or
    /// a learner at a time (SQL/022): `learners` at a time, each in a transaction that takes their lock by an equality on
    /// user_id, which is what Citus runs on one shard (a batch picks rows across learners); then `moves` is 0. A learner
    /// whose push holds their lock, or every learner while another server folds, is left for the next call. `byLearner`
    /// nil: a learner at a time on Citus, in batches on one PostgreSQL.
    public func foldQuestionSums(moves: Int, learners: Int, byLearner: Bool? = nil) async throws -> (moves: Int, learners: Int) {
        var distributed = false
        if byLearner == nil { distributed = try await isDistributed() }
        let most = learners * Self.learnerBatches
        /// Runs `batch` until it comes back with fewer than `size`, or `waiting` (at most `most`) in all; says how many in
        /// all. Learners who push meanwhile are left for the next call.
        func repeated(_ size: Int, waiting: Int = most, _ batch: () async throws -> Int) async throws -> Int {
            var done = 0
            while done < min(waiting, most) {
                let count = try await batch()
                done += count
                if count < size { break }
            }
            return done
        }
        guard byLearner ?? distributed else {
            let batch = min(learners, 5)
            let waiting = try await pool.query("SELECT count(*) FROM question_parts_pending").scalar(Int.self) ?? 0
            let pending = try await repeated(batch, waiting: waiting) {
                try await pool.query("SELECT fold_question_parts_pending(\(batch))").scalar(Int.self) ?? 0
            }
            let folded = try await pool.query("SELECT fold_team_question_sum_moves(\(moves))").scalar(Int.self) ?? 0
            let moved = try await pool.query("SELECT count(DISTINCT user_id) FROM learner_deck_totals WHERE t <> t_summed").scalar(Int.self) ?? 0
            let totals = try await repeated(learners, waiting: moved) {
                try await pool.query("SELECT fold_learner_deck_totals(\(learners))").scalar(Int.self) ?? 0
            }
            return (folded, pending + totals)
        }
        var folded = 0
        _ = try await repeated(learners) {
            let ids = try await pool.query("SELECT learners_to_fold(\(learners))").column(Int64.self)
            for id in ids where try await pool.query("SELECT fold_learner_question_sums(\(id))").scalar(Bool.self) == true {
                folded += 1
            }
            return ids.count
        }
        return (0, folded)
    }

    /// How many batches of learners `foldQuestionSums` folds at most in one call.
    public static let learnerBatches = 20
}
