import LibPQ
import StudyCore
import StudyStorage

/// Progress as a pure fold of the attempts (ARCHITECTURE.md, invariant 3), kept in `progress` as a cache; step 4 of a
/// push folds the new attempts onto it.
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
            if try await tx.query("SELECT 1 FROM learner_counters WHERE user_id = \(userID) FOR UPDATE").count == 0 {
                try await Self.ensureCounters(of: userID, on: tx)
                try await tx.query("SELECT 1 FROM learner_counters WHERE user_id = \(userID) FOR UPDATE")
            }
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
        ) { result throws(PostgresError) in try Self.storedAttempts(result).map(\.attempt) }
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
            """
            UPDATE learner_counters SET mastered_count = (SELECT count(*) FROM progress WHERE user_id = \(userID) AND mastered)
            WHERE user_id = \(userID)
            """)
    }
}
