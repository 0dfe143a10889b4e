import LibPQ
import StudyCore

/// Step 5 of a push: what the new attempts change besides `attempts` and `progress`: the boards' day, week and month
/// rows in each time zone of the learner's teams, and the question reports' sums (SQL/011).
extension PostgresStore {
    /// What a push does for the learner's teams, in one round trip (SQL/027, 029): when the page has counted attempts,
    /// the learner is marked, and the background fold adds their attempts since the mark to the boards and moves their
    /// question-report parts (reads add what the fold will add). Nothing when the learner is in no team.
    static func beginTeamAggregates(
        _ effects: PageEffects, userID: Int64, seqAbove base: Int64, upTo next: Int64, on tx: PostgresConnection
    ) async throws {
        let questions = effects.questionStats == nil ? nil : PostgresArray(effects.countedQuestionIDs)
        try await tx.query("SELECT 1 FROM begin_team_push(\(userID), \(base), \(next), \(questions)::text[])")
    }

    /// Adds the page's counted attempts to `learner_question_stats`, which the reports read (a team member's part of the
    /// question-report sums follows in the background fold, from what `beginTeamAggregates` recorded).
    static func updateQuestionReports(_ effects: PageEffects, on tx: PostgresConnection) async throws {
        guard let stats = effects.questionStats else { return }
        try await tx.query(stats)
    }

    /// Adds the attempts numbered (`seqAbove`, `upTo`] to the leaderboard's daily, weekly and monthly aggregates in
    /// `zones`, and rebuilds the learner's totals and streaks there (a rebuild of a zone; a push's attempts are added by
    /// the background fold, SQL/029).
    func updateDailyActivity(_ tx: PostgresConnection, userID: Int64, seqAbove base: Int64, upTo next: Int64, zones: [String]) async throws {
        // A learner in no team (most pushes on a server without teams) has no board to keep.
        guard !zones.isEmpty else { return }
        try await tx.query(
            "SELECT add_board_activity(\(userID), \(base), \(next), \(PostgresArray(zones))::text[])")
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
