import LibPQ
import StudyCore
import StudyStorage

extension PostgresStore: AttemptRepository {
    public static let attemptColumns = [
        "user_id", "seq", "id", "device_id", "question_id", "question_version", "chosen", "correct", "answered_at", "duration_ms", "session_id",
        "received_at", "flags",
    ]

    public func insert(_ attempts: [Attempt], flags: [AttemptFlags], userID: Int64, receivedAt: Int64) async throws -> [PushOutcome] {
        precondition(attempts.count == flags.count, "one set of flags per attempt")
        guard !attempts.isEmpty else { return [] }
        var problems: [String?] = []
        problems.reserveCapacity(attempts.count)
        var attempts = attempts
        for i in attempts.indices {
            let check = attempts[i].check()
            problems.append(check.problems.first)
            // Ids in PostgreSQL's lower-case spelling, so a re-sent attempt compares equal. They nearly always are already;
            // the page is copied only when one is not.
            if !check.lowercaseIDs { attempts[i].normaliseIDs() }
        }
        // The well-formed attempts as COPY rows, written before the transaction waits for the learner's row lock (the
        // pages of one sync queue there); their sequence numbers are set in place once it is held.
        var rows = PostgresBinaryRows(fields: Int16(Self.attemptColumns.count), capacity: attempts.count * 176)
        var rowOf = [Int](repeating: -1, count: attempts.count)
        for i in attempts.indices where problems[i] == nil {
            rowOf[i] = rows.count
            Self.appendRow(attempts[i], to: &rows, userID: userID, seq: 0, receivedAt: receivedAt, flags: flags[i])
        }
        // What the page changes besides `attempts`, worked out while this request may still wait for the learner's row
        // lock, for the usual case that every well-formed attempt is new (a look-up that sets some aside works it out
        // again for the rest).
        let planned = PageEffects(of: attempts, flags: flags, at: attempts.indices.filter { problems[$0] == nil }, userID: userID)
        // Pushed attempts are nearly always new, so the first try copies them without looking their ids up; only when
        // that runs into a stored id (a resent page, an id repeated in the page, an id of another user) is the
        // transaction rolled back and redone with a look-up that sorts each attempt into inserted, duplicate, conflict
        // or refused.
        var lookUp = false
        return try await retrying { tx in
            // The user's row lock orders this user's pushes: sequence numbers commit in the order they are handed out.
            // The statement that takes it also hands out a number to each well-formed attempt; when the look-up sets
            // some aside, the count is put right below.
            let reserved = Int64(rows.count)
            guard
                let base = try await tx.query(
                    "UPDATE users SET attempt_seq = attempt_seq + \(reserved) WHERE id = \(userID) RETURNING attempt_seq - \(reserved)"
                ).scalar(Int64.self)
            else {
                throw PostgresError(kind: .server, message: "There is no user \(userID).")
            }
            // With the look-up: the stored attempts with the page's ids, then the page's own as they are numbered.
            var stored: [String: (userID: Int64, seq: Int64, index: Int?, attempt: Attempt?, ahead: Bool)] = [:]
            if lookUp {
                let wellFormed = attempts.indices.filter { problems[$0] == nil }.map { attempts[$0].id }
                for row in try await tx.query(
                    "SELECT user_id, \(unsafeRaw: Self.pullColumns) FROM attempts WHERE id = ANY(\(PostgresArray(wellFormed))::uuid[])")
                {
                    let found = try Self.storedAttempt(row, offset: 1)
                    stored[found.attempt.id] = (try row.decode(Int64.self, at: 0), found.seq, nil, found.attempt, found.flags.contains(.ahead))
                }
            }
            var next = base
            var outcomes: [PushOutcome] = []
            outcomes.reserveCapacity(attempts.count)
            var fresh: [Int] = []  // indexes of the attempts numbered base + 1, base + 2, ...
            fresh.reserveCapacity(attempts.count)
            for i in attempts.indices {
                if let problem = problems[i] {
                    outcomes.append(.rejected(reason: problem))
                } else if lookUp, let existing = stored[attempts[i].id] {
                    if existing.userID != userID {
                        outcomes.append(.rejected(reason: "this id is already used by an attempt that is not yours; give the attempt a new id"))
                    } else {
                        let same = existing.index.map { attempts[$0] == attempts[i] } ?? (existing.attempt == attempts[i])
                        outcomes.append(same ? .duplicate(seq: existing.seq, ahead: existing.ahead) : .conflict)
                    }
                } else {
                    next += 1
                    if lookUp { stored[attempts[i].id] = (userID, next, i, nil, flags[i].contains(.ahead)) }
                    outcomes.append(.inserted(seq: next))
                    fresh.append(i)
                }
            }
            if next != base + reserved { try await tx.query("UPDATE users SET attempt_seq = \(next) WHERE id = \(userID)") }
            if !fresh.isEmpty {
                let effects = fresh.count == rows.count ? planned : PageEffects(of: attempts, flags: flags, at: fresh, userID: userID)
                // The stored progress of the page's questions is read first, and the page folded onto it while PostgreSQL
                // takes the COPY: that fold then costs the learner's row lock no time.
                let stored = base == 0 ? [:] : try await Self.storedProgress(userID: userID, questionIDs: effects.questionIDs, on: tx)
                async let extended = Self.extendFolds(effects.attempts, effects.groups, onto: stored, firstAttempts: base == 0)
                do {
                    // Attempt `fresh[n]` is numbered base + 1 + n. With nothing set aside by the look-up that is every row,
                    // numbered in place (a retry numbers them again); otherwise the fresh ones are copied out first.
                    func copy(_ rows: inout PostgresBinaryRows) async throws {
                        for n in 0..<rows.count { rows.setInt64(base + 1 + Int64(n), row: n, field: 1) }
                        try await tx.copyBinary(into: "attempts", columns: Self.attemptColumns, rows: rows)
                    }
                    if fresh.count == rows.count {
                        try await copy(&rows)
                    } else {
                        var subset = rows.rows(at: fresh.map { rowOf[$0] })
                        try await copy(&subset)
                    }
                } catch let error as PostgresError where error.kind == .uniqueViolation && !lookUp {
                    lookUp = true
                    throw error  // `retrying` runs the transaction again, with the look-up
                }
                let zones = try await Self.timeZones(ofTeamsOf: userID, on: tx)
                try await updateDailyActivity(tx, userID: userID, seqAbove: base, upTo: next, zones: zones)
                try await Self.finishFold(await extended, stored: stored, userID: userID, at: receivedAt, on: tx)
                // Last, as it locks the learner's teams until the commit: the question-report sums of their teams.
                if let stats = effects.questionStats {
                    if zones.isEmpty {
                        try await tx.query(stats)
                    } else {
                        try await Self.changingQuestionParts(of: userID, questionIDs: effects.countedQuestionIDs, on: tx) {
                            _ = try await tx.query(stats)
                        }
                    }
                }
            }
            return outcomes
        }
    }

    public func pull(userID: Int64, after cursor: Int64, limit: Int, excludingDevice: String?) async throws -> PullPage {
        if limit <= 0 {
            let latest = try await latestSequence(userID: userID)
            return PullPage(attempts: [], cursor: cursor, hasMore: latest > cursor)
        }
        // Sequence numbers are gap-free per user (invariant 4), so the attempts that fill a page lie in (cursor, cursor +
        // limit + 1]: each statement reads a bounded range of the primary key, whatever plan PostgreSQL picks. (Asked for
        // "the next limit + 1 after the cursor", it chose, with statistics taken before a large push, a bitmap scan of
        // every later attempt and a sort, for every page.) The puller's own attempts in a range leave the page short;
        // then the next range follows, up to the user's latest number as the first statement read it: every attempt up
        // to that number was committed with it, so later statements see them all.
        var page: [StoredAttempt] = []
        var scanned = cursor
        var latest = cursor
        var first = true
        repeat {
            let upper = scanned + Int64(limit + 1 - page.count)
            if first {
                // The user's row comes back once even when no attempt does.
                let rows = try await pool.query(
                    """
                    SELECT u.attempt_seq, a.* FROM users u
                    LEFT JOIN LATERAL (
                        SELECT \(unsafeRaw: Self.pullColumns) FROM attempts
                        WHERE user_id = u.id AND seq > \(scanned) AND seq <= \(upper)
                          AND (\(excludingDevice)::uuid IS NULL OR device_id <> \(excludingDevice)::uuid)
                        ORDER BY seq
                    ) a ON true
                    WHERE u.id = \(userID)
                    """)
                guard let row = rows.first else { return PullPage(attempts: [], cursor: cursor, hasMore: false) }
                latest = try row.decode(Int64.self, at: 0)
                page += try rows.compactMap { row in try row.decode(Int64?.self, at: 1) == nil ? nil : try Self.storedAttempt(row, offset: 1) }
                first = false
            } else {
                page += try await pool.query(
                    """
                    SELECT \(unsafeRaw: Self.pullColumns) FROM attempts
                    WHERE user_id = \(userID) AND seq > \(scanned) AND seq <= \(upper)
                      AND (\(excludingDevice)::uuid IS NULL OR device_id <> \(excludingDevice)::uuid)
                    ORDER BY seq
                    """
                ).map { try Self.storedAttempt($0) }
            }
            scanned = min(upper, latest)
        } while page.count <= limit && scanned < latest
        if page.count > limit {
            page.removeLast(page.count - limit)
            return PullPage(attempts: page, cursor: page.last!.seq, hasMore: true)
        }
        return PullPage(attempts: page, cursor: max(cursor, latest), hasMore: false)
    }

    public func latestSequence(userID: Int64) async throws -> Int64 {
        try await pool.query("SELECT attempt_seq FROM users WHERE id = \(userID)").scalar(Int64.self) ?? 0
    }

    /// Adds the attempts numbered (`seqAbove`, `upTo`] to the leaderboard's daily, weekly and monthly aggregates in
    /// `zones` (those of the learner's teams), and rebuilds the learner's totals and streaks there, inside the pushing
    /// transaction.
    func updateDailyActivity(_ tx: PostgresConnection, userID: Int64, seqAbove base: Int64, upTo next: Int64, zones: [String]) async throws {
        // A learner in no team (most pushes on a server without teams) has no board to keep.
        guard !zones.isEmpty else { return }
        let zoneList = PostgresArray(zones)
        try await tx.query(
            """
            WITH zones AS (
                SELECT unnest(\(zoneList)::text[]) AS time_zone
            ), fresh AS (
                SELECT z.time_zone, team_day(z.time_zone, a.answered_at) AS day, a.question_id,
                       count(*) AS attempts, count(*) FILTER (WHERE a.correct) AS correct_attempts
                FROM attempts a CROSS JOIN zones z
                WHERE a.user_id = \(userID) AND a.seq > \(base) AND a.seq <= \(next) AND a.flags = 0
                GROUP BY 1, 2, 3
            ), merged AS (
                INSERT INTO daily_question_activity AS d (user_id, time_zone, day, question_id, attempts, correct_attempts)
                SELECT \(userID), time_zone, day, question_id, attempts, correct_attempts FROM fresh
                ON CONFLICT (user_id, time_zone, day, question_id) DO UPDATE
                    SET attempts = d.attempts + excluded.attempts, correct_attempts = d.correct_attempts + excluded.correct_attempts
                RETURNING time_zone, day, question_id, correct_attempts
            ), days AS (
                -- A question earns its day's point with the first correct attempt: the merged count equals this batch's.
                SELECT f.time_zone, f.day, sum(f.attempts) AS attempts, sum(f.correct_attempts) AS correct_attempts,
                       count(*) FILTER (WHERE f.correct_attempts > 0 AND m.correct_attempts = f.correct_attempts) AS points
                FROM fresh f JOIN merged m USING (time_zone, day, question_id)
                GROUP BY f.time_zone, f.day
            ), weeks AS (
                SELECT DISTINCT t.time_zone, t.week_start FROM memberships m JOIN teams t ON t.id = m.team_id
                WHERE m.user_id = \(userID) AND t.time_zone IN (SELECT time_zone FROM zones)
            ), weekly AS (
                INSERT INTO weekly_activity AS s (user_id, time_zone, week_start, week, attempts, correct_attempts, points)
                SELECT \(userID), d.time_zone, w.week_start, week_of(d.day, w.week_start), sum(d.attempts), sum(d.correct_attempts), sum(d.points)
                FROM days d JOIN weeks w USING (time_zone)
                GROUP BY 2, 3, 4
                ON CONFLICT (user_id, time_zone, week_start, week) DO UPDATE
                    SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                        points = s.points + excluded.points
            ), daily AS (
                INSERT INTO daily_activity AS s (user_id, time_zone, day, attempts, correct_attempts, points)
                SELECT \(userID), time_zone, day, attempts, correct_attempts, points FROM days
                ON CONFLICT (user_id, time_zone, day) DO UPDATE
                    SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                        points = s.points + excluded.points
            )
            INSERT INTO monthly_activity AS s (user_id, time_zone, month, attempts, correct_attempts, points)
            SELECT \(userID), time_zone, date_trunc('month', day)::date, sum(attempts), sum(correct_attempts), sum(points) FROM days
            GROUP BY 2, 3
            ON CONFLICT (user_id, time_zone, month) DO UPDATE
                SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                    points = s.points + excluded.points
            """)
        // Totals and the latest run of consecutive days, from the learner's own days (a few hundred rows at most a year).
        try await tx.query(
            """
            WITH zones AS (
                SELECT unnest(\(zoneList)::text[]) AS time_zone
            ), days AS (
                SELECT d.time_zone, d.day, d.attempts, d.correct_attempts, d.points,
                       d.day - (row_number() OVER (PARTITION BY d.time_zone ORDER BY d.day))::integer AS run
                FROM daily_activity d WHERE d.user_id = \(userID) AND d.time_zone IN (SELECT time_zone FROM zones)
            ), latest AS (
                SELECT DISTINCT ON (time_zone) time_zone, max(day) AS last_day, count(*) AS length
                FROM days GROUP BY time_zone, run ORDER BY time_zone, max(day) DESC
            )
            INSERT INTO activity_totals AS t (user_id, time_zone, attempts, correct_attempts, points, streak_last_day, streak_days)
            SELECT \(userID), d.time_zone, sum(d.attempts), sum(d.correct_attempts), sum(d.points), l.last_day, l.length
            FROM days d JOIN latest l USING (time_zone)
            GROUP BY d.time_zone, l.last_day, l.length
            ON CONFLICT (user_id, time_zone) DO UPDATE
                SET attempts = excluded.attempts, correct_attempts = excluded.correct_attempts, points = excluded.points,
                    streak_last_day = excluded.streak_last_day, streak_days = excluded.streak_days
            """)
    }

    /// The time zones of the user's teams, each once.
    static func timeZones(ofTeamsOf userID: Int64, on tx: PostgresConnection) async throws -> [String] {
        try await tx.query(
            "SELECT DISTINCT t.time_zone FROM memberships m JOIN teams t ON t.id = m.team_id WHERE m.user_id = \(userID) ORDER BY 1"
        ).column(String.self)
    }

    /// Runs `change`, which changes the learner's question statistics or team memberships, between the two steps that
    /// move their part of the question-report sums (SQL/011): the parts of every deck with one of `questionIDs` (nil:
    /// every deck), in every team of theirs or only `teamID`. The caller holds the user's row lock; the first step locks
    /// the teams concerned until the commit.
    @discardableResult
    static func changingQuestionParts<T>(
        of userID: Int64, teamID: Int64? = nil, questionIDs: [String]? = nil, on tx: PostgresConnection, _ change: () async throws -> T
    ) async throws -> T {
        let questions = questionIDs.map { PostgresArray($0) }
        let before = try await tx.query("SELECT learner_question_parts_before(\(userID), \(teamID)::bigint, \(questions)::text[])::text").scalar(
            String.self)
        let result = try await change()
        try await tx.query(
            "SELECT apply_learner_question_parts(\(userID), \(teamID)::bigint, \(questions)::text[], \(before)::learner_question_part[])")
        return result
    }

    /// Folds newly stored, unflagged attempts into `learner_question_stats` (what the reports read).
    func updateQuestionStats(_ tx: PostgresConnection, userID: Int64, attempts: [Attempt]) async throws {
        if let query = Self.questionStatsQuery(userID: userID, attempts: attempts) { try await tx.query(query) }
    }

    /// The statement that adds `attempts` (newly stored, unflagged) to `learner_question_stats`; nil for none.
    static func questionStatsQuery(userID: Int64, attempts: [Attempt]) -> PostgresQuery? {
        questionStatsQuery(userID: userID, attempts: attempts, groups: groups(of: attempts))
    }

    /// The attempts' indices by question, sorted by question id.
    static func groups(of attempts: [Attempt]) -> [QuestionGroup] {
        var slots: [String: Int] = [:]
        var groups: [QuestionGroup] = []
        for i in attempts.indices {
            if let slot = slots[attempts[i].questionID] {
                groups[slot].indices.append(i)
            } else {
                slots[attempts[i].questionID] = groups.count
                groups.append(QuestionGroup(questionID: attempts[i].questionID, indices: [i]))
            }
        }
        return groups.sorted { $0.questionID < $1.questionID }
    }

    /// `questionStatsQuery` with the attempts' `groups` worked out already.
    static func questionStatsQuery(userID: Int64, attempts: [Attempt], groups: [QuestionGroup]) -> PostgresQuery? {
        guard !groups.isEmpty else { return nil }
        struct Row {
            let questionID: String
            var attempts = 0, correct = 0, durationSum: Int64 = 0, last: Int64 = .min
            var options = [Int](repeating: 0, count: 10)
            let first: Attempt
        }
        // Each question's sums over its attempts, read in place (no copy of an attempt).
        let rows = groups.map { group in
            var row = Row(questionID: group.questionID, first: attempts[group.indices.min { Attempt.foldOrder(attempts[$0], attempts[$1]) }!])
            for i in group.indices {
                row.attempts += 1
                if attempts[i].correct { row.correct += 1 }
                // Bounded as pushed attempts are (a day), so that an attempt stored before the bound cannot overflow the sum.
                row.durationSum += min(max(attempts[i].durationMs, 0), AttemptRules.maxDurationMs)
                row.last = max(row.last, attempts[i].answeredAt)
                for option in attempts[i].chosen where (0..<10).contains(option) { row.options[option] += 1 }
            }
            return row
        }
        func column<T: CustomStringConvertible>(_ value: (Row) -> T) -> PostgresArray { PostgresArray(rows.map(value)) }
        func list(_ values: [Int]) -> String { "{" + values.map(String.init).joined(separator: ",") + "}" }
        return """
            INSERT INTO learner_question_stats AS s (user_id, question_id, attempts, correct_attempts, option_counts, duration_ms_sum, first_answered_at,
                                                     first_attempt_id, first_correct, first_chosen, first_duration_ms, last_answered_at)
            SELECT \(userID), q, n, c, o::integer[], d, fa, fi, fc, fch::smallint[], fd, la
            FROM unnest(\(PostgresArray(rows.map(\.questionID)))::text[], \(column(\.attempts))::integer[], \(column(\.correct))::integer[],
                        \(column { list($0.options) })::text[], \(column(\.durationSum))::bigint[], \(column(\.first.answeredAt))::bigint[],
                        \(column(\.first.id))::uuid[], \(column(\.first.correct))::boolean[], \(column { list($0.first.chosen) })::text[],
                        \(column { min(max($0.first.durationMs, 0), AttemptRules.maxDurationMs) })::bigint[], \(column(\.last))::bigint[]) AS u(q, n, c, o, d, fa, fi, fc, fch, fd, la)
            ON CONFLICT (user_id, question_id) DO UPDATE SET
                attempts = s.attempts + excluded.attempts,
                correct_attempts = s.correct_attempts + excluded.correct_attempts,
                option_counts = ARRAY(SELECT x + y FROM unnest(s.option_counts, excluded.option_counts) WITH ORDINALITY AS z(x, y, k) ORDER BY k),
                duration_ms_sum = s.duration_ms_sum + excluded.duration_ms_sum,
                last_answered_at = greatest(s.last_answered_at, excluded.last_answered_at),
                first_answered_at = CASE WHEN (excluded.first_answered_at, excluded.first_attempt_id) < (s.first_answered_at, s.first_attempt_id)
                                         THEN excluded.first_answered_at ELSE s.first_answered_at END,
                first_correct = CASE WHEN (excluded.first_answered_at, excluded.first_attempt_id) < (s.first_answered_at, s.first_attempt_id)
                                     THEN excluded.first_correct ELSE s.first_correct END,
                first_chosen = CASE WHEN (excluded.first_answered_at, excluded.first_attempt_id) < (s.first_answered_at, s.first_attempt_id)
                                    THEN excluded.first_chosen ELSE s.first_chosen END,
                first_duration_ms = CASE WHEN (excluded.first_answered_at, excluded.first_attempt_id) < (s.first_answered_at, s.first_attempt_id)
                                         THEN excluded.first_duration_ms ELSE s.first_duration_ms END,
                first_attempt_id = CASE WHEN (excluded.first_answered_at, excluded.first_attempt_id) < (s.first_answered_at, s.first_attempt_id)
                                        THEN excluded.first_attempt_id ELSE s.first_attempt_id END
            """
    }

    static let pullColumns =
        "seq, id::text, device_id::text, question_id, question_version, chosen::text, correct, answered_at, duration_ms, session_id::text, flags"

    static func storedAttempt(_ row: PostgresRow, offset: Int = 0) throws -> StoredAttempt {
        let chosen = try PostgresTextArray.parse(try row.decode(String.self, at: offset + 5)).compactMap { Int($0) }
        let attempt = Attempt(
            id: try row.decode(at: offset + 1), deviceID: try row.decode(at: offset + 2), questionID: try row.decode(at: offset + 3),
            questionVersion: try row.decode(at: offset + 4), chosen: chosen, correct: try row.decode(at: offset + 6),
            answeredAt: try row.decode(at: offset + 7),
            durationMs: try row.decode(at: offset + 8), sessionID: try row.decode(at: offset + 9))
        return StoredAttempt(seq: try row.decode(at: offset), attempt: attempt, flags: AttemptFlags(rawValue: try row.decode(at: offset + 10)))
    }
}

extension PostgresStore: ProgressRepository {
    public func refreshProgress(userID: Int64, questionIDs: Set<String>, at time: Int64) async throws {
        guard !questionIDs.isEmpty else { return }
        try await lockingUser(userID) { tx in
            let folded = try await Progress.foldAll(Self.allAttempts(userID: userID, questionIDs: questionIDs, on: tx))
            try await Self.upsert(Array(folded.values), userID: userID, at: time, on: tx)
        }
    }

    public func recordProgress(userID: Int64, newAttempts: [Attempt], at time: Int64) async throws {
        guard !newAttempts.isEmpty else { return }
        try await lockingUser(userID) { tx in try await Self.foldIntoProgress(newAttempts, userID: userID, at: time, on: tx) }
    }

    /// Folds newly stored attempts into the stored progress, inside the caller's transaction (which holds the user's
    /// row lock): on top of it when they all come after what it holds, from scratch for a question where one does not.
    static func foldIntoProgress(_ newAttempts: [Attempt], userID: Int64, at time: Int64, on tx: PostgresConnection) async throws {
        let groups = groups(of: newAttempts)
        let stored = try await storedProgress(userID: userID, questionIDs: groups.map(\.questionID), on: tx)
        try await finishFold(extendFolds(newAttempts, groups, onto: stored), stored: stored, userID: userID, at: time, on: tx)
    }

    /// The stored progress on these questions, by question.
    static func storedProgress(userID: Int64, questionIDs: [String], on tx: PostgresConnection) async throws -> [String: QuestionProgress] {
        Dictionary(uniqueKeysWithValues: try await progress(userID: userID, questionIDs: Set(questionIDs), on: tx).map { ($0.questionID, $0) })
    }

    /// The first, pure half of a fold into stored progress: each question's new attempts (`groups` of `attempts`) folded
    /// onto its stored progress where they all come after it, and the questions where one does not (to fold again from
    /// every attempt). `firstAttempts`: the learner had no attempt before these, so the fold of these alone is the whole.
    static func extendFolds(
        _ attempts: [Attempt], _ groups: [QuestionGroup], onto stored: [String: QuestionProgress], firstAttempts: Bool = false
    ) -> (updated: [QuestionProgress], refold: Set<String>) {
        var updated: [QuestionProgress] = []
        var refold: Set<String> = []
        for group in groups {
            if firstAttempts {
                updated.append(Progress.fold(questionID: group.questionID, of: attempts, at: group.indices))
            } else if let current = stored[group.questionID], let next = Progress.extendFold(current, with: attempts, at: group.indices) {
                updated.append(next)
            } else {
                refold.insert(group.questionID)
            }
        }
        return (updated, refold)
    }

    /// The second half: folds the questions set aside from all their attempts (which must be stored by now) and stores
    /// the progress, recounting the learner's mastered questions when one of them changed.
    static func finishFold(
        _ extended: (updated: [QuestionProgress], refold: Set<String>), stored: [String: QuestionProgress], userID: Int64, at time: Int64,
        on tx: PostgresConnection
    ) async throws {
        var updated = extended.updated
        if !extended.refold.isEmpty {
            updated += try await Progress.foldAll(allAttempts(userID: userID, questionIDs: extended.refold, on: tx)).values
        }
        let masteredChanged = updated.contains { $0.isMastered != (stored[$0.questionID]?.isMastered ?? false) }
        try await upsert(updated, userID: userID, at: time, on: tx, masteredChanged: masteredChanged)
    }

    public func progress(userID: Int64) async throws -> [QuestionProgress] {
        try await pool.withConnection { try await Self.progress(userID: userID, questionIDs: nil, on: $0) }
    }

    /// Runs `body` in a transaction holding the user's row lock, so two syncs of one user never update the progress
    /// cache from the same stale state (the later would undo the earlier).
    func lockingUser<T: Sendable>(_ userID: Int64, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await retrying { tx in
            try await tx.query("SELECT 1 FROM users WHERE id = \(userID) FOR UPDATE")
            return try await body(tx)
        }
    }

    /// The learner's attempts at these questions: read through the primary key (SQL/013 says why there is no index by
    /// question).
    private static func allAttempts(userID: Int64, questionIDs: Set<String>, on connection: PostgresConnection) async throws -> [Attempt] {
        try await connection.query(
            """
            SELECT \(unsafeRaw: Self.pullColumns) FROM attempts
            WHERE user_id = \(userID) AND question_id = ANY(\(PostgresArray(questionIDs.sorted()))::text[]) AND flags & \(AttemptFlags.ahead.rawValue) = 0
            """
        ).map { try Self.storedAttempt($0).attempt }
    }

    private static func progress(userID: Int64, questionIDs: Set<String>?, on connection: PostgresConnection) async throws -> [QuestionProgress] {
        let filter = questionIDs.map { PostgresArray($0.sorted()) }
        return try await connection.query(
            """
            SELECT question_id, state, step, stability, difficulty, due, last_review, attempts, correct_attempts, last_correct, last_attempt_id::text
            FROM progress WHERE user_id = \(userID) AND (\(filter)::text[] IS NULL OR question_id = ANY(\(filter)::text[]))
            ORDER BY question_id
            """
        ).map { row in
            var card = FSRS.Card()
            guard let state = FSRS.State(rawValue: try row.decode(Int.self, at: 1)) else {
                throw PostgresError(kind: .decoding, message: "Unknown FSRS state.")
            }
            card.state = state
            card.step = try row.decode(at: 2)
            card.stability = try row.decode(Double.self, at: 3)
            card.difficulty = try row.decode(Double.self, at: 4)
            card.due = try row.decode(Int64.self, at: 5)
            card.lastReview = try row.decode(Int64.self, at: 6)
            return QuestionProgress(
                questionID: try row.decode(at: 0), card: card, attempts: try row.decode(at: 7), correctAttempts: try row.decode(at: 8),
                lastCorrect: try row.decode(Bool.self, at: 9), lastAnsweredAt: card.lastReview, lastAttemptID: try row.decode(at: 10))
        }
    }

    /// Stores folded progress rows. `masteredChanged` false: no row changed whether it is mastered (the caller compared
    /// with what was stored), so the user's mastered count stands and is not counted again.
    static func upsert(_ folded: [QuestionProgress], userID: Int64, at time: Int64, on connection: PostgresConnection, masteredChanged: Bool = true)
        async throws
    {
        let rows = folded.filter { $0.attempts > 0 }.sorted { $0.questionID < $1.questionID }
        guard !rows.isEmpty else { return }
        func column<T: CustomStringConvertible>(_ values: [T?]) -> PostgresArray { PostgresArray(values.map { $0?.description }) }
        try await connection.query(
            """
            INSERT INTO progress AS p (user_id, question_id, state, step, stability, difficulty, due, last_review, attempts, correct_attempts,
                                       last_correct, mastered, last_attempt_id, updated_at)
            SELECT \(userID), *, \(time) FROM unnest(
                \(column(rows.map(\.questionID)))::text[], \(column(rows.map { $0.card.state.rawValue }))::smallint[],
                \(column(rows.map(\.card.step)))::integer[], \(column(rows.map(\.card.stability)))::float8[],
                \(column(rows.map(\.card.difficulty)))::float8[], \(column(rows.map(\.card.due)))::bigint[],
                \(column(rows.map(\.card.lastReview)))::bigint[], \(column(rows.map(\.attempts)))::integer[],
                \(column(rows.map(\.correctAttempts)))::integer[], \(column(rows.map(\.lastCorrect)))::boolean[],
                \(column(rows.map(\.isMastered)))::boolean[], \(column(rows.map(\.lastAttemptID)))::uuid[])
            ON CONFLICT (user_id, question_id) DO UPDATE SET
                state = excluded.state, step = excluded.step, stability = excluded.stability, difficulty = excluded.difficulty,
                due = excluded.due, last_review = excluded.last_review, attempts = excluded.attempts,
                correct_attempts = excluded.correct_attempts, last_correct = excluded.last_correct, mastered = excluded.mastered,
                last_attempt_id = excluded.last_attempt_id, updated_at = excluded.updated_at
            """)
        guard masteredChanged else { return }
        try await connection.query(
            "UPDATE users SET mastered_count = (SELECT count(*) FROM progress WHERE user_id = \(userID) AND mastered) WHERE id = \(userID)")
    }
}

/// A question's attempts in a page, by their indices there.
struct QuestionGroup: Sendable {
    let questionID: String
    var indices: [Int]
}

/// What storing a page of new attempts changes besides the `attempts` table, as far as the page alone tells.
struct PageEffects: Sendable {
    /// The new attempts.
    let attempts: [Attempt]
    /// Their indices by question, sorted by question id, for the progress fold.
    let groups: [QuestionGroup]
    /// What the unflagged ones add to `learner_question_stats`; nil when every one is flagged.
    let questionStats: PostgresQuery?
    /// The questions of the unflagged ones, sorted: the parts of the question reports that change.
    let countedQuestionIDs: [String]

    var questionIDs: [String] { groups.map(\.questionID) }

    /// The effects of the attempts of `page` at `indices`; `flags[i]` are the flags of `page[i]`. Attempts flagged
    /// `ahead` have none: they count in no progress and no statistic (PROTOCOL.md, "Time").
    init(of page: [Attempt], flags: [AttemptFlags], at indices: [Int], userID: Int64) {
        let indices = flags.contains(where: { $0.contains(.ahead) }) ? indices.filter { !flags[$0].contains(.ahead) } : indices
        let all = indices.count == page.count  // then the page itself, not a copy
        let inserted = all ? page : indices.map { page[$0] }
        let insertedFlags = all ? flags : indices.map { flags[$0] }
        attempts = inserted
        groups = PostgresStore.groups(of: inserted)
        if insertedFlags.allSatisfy(\.isEmpty) {
            questionStats = PostgresStore.questionStatsQuery(userID: userID, attempts: inserted, groups: groups)
            countedQuestionIDs = groups.map(\.questionID)
        } else {
            let counted = inserted.indices.filter { insertedFlags[$0].isEmpty }.map { inserted[$0] }
            questionStats = PostgresStore.questionStatsQuery(userID: userID, attempts: counted)
            countedQuestionIDs = Set(counted.map(\.questionID)).sorted()
        }
    }
}

extension Attempt {
    /// Puts the UUIDs in PostgreSQL's lower-case spelling, so a re-sent attempt compares equal.
    mutating func normaliseIDs() {
        self = Attempt(
            id: id.lowercased(), deviceID: deviceID.lowercased(), questionID: questionID, questionVersion: questionVersion, chosen: chosen,
            correct: correct, answeredAt: answeredAt, durationMs: durationMs, sessionID: sessionID.lowercased())
    }
}

extension PostgresStore {
    /// Appends an attempt as a row of `attempts` (in `attemptColumns` order) for a binary COPY. Its ids must be UUIDs, as
    /// `Attempt.check` makes sure before any attempt is numbered; one that is not becomes a NULL, which the table refuses.
    public static func appendRow(
        _ attempt: Attempt, to rows: inout PostgresBinaryRows, userID: Int64, seq: Int64, receivedAt: Int64, flags: AttemptFlags
    ) {
        rows.append { write(attempt, into: &$0, userID: userID, seq: seq, receivedAt: receivedAt, flags: flags) }
    }

    /// Writes `appendRow`'s fields into an empty row.
    static func write(_ attempt: Attempt, into row: inout PostgresBinaryRow, userID: Int64, seq: Int64, receivedAt: Int64, flags: AttemptFlags) {
        func uuid(_ text: String, into row: inout PostgresBinaryRow) { if !row.uuid(text) { row.null() } }
        row.int64(userID)
        row.int64(seq)
        uuid(attempt.id, into: &row)
        uuid(attempt.deviceID, into: &row)
        row.text(attempt.questionID)
        row.text(attempt.questionVersion)
        row.int16Array(attempt.chosen)
        row.bool(attempt.correct)
        row.int64(attempt.answeredAt)
        row.int64(attempt.durationMs)
        uuid(attempt.sessionID, into: &row)
        row.int64(receivedAt)
        row.int32(flags.rawValue)
    }
}
