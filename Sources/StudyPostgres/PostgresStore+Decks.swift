import LibPQ
import StudyCore
import StudyStorage

extension PostgresStore: DeckRepository {
    public func storeDeck(_ deck: Deck, at time: Int64) async throws {
        try await retrying { tx in
            for q in deck.questions {
                try await tx.query(
                    """
                    INSERT INTO question_versions (question_id, version, prompt, options, correct)
                    VALUES (\(q.id), \(q.version), \(q.prompt), \(PostgresArray(q.options))::text[], \(PostgresArray(q.correct))::smallint[])
                    ON CONFLICT DO NOTHING
                    """)
            }
            let inserted = try await tx.query(
                "INSERT INTO decks (id, name, created_at) VALUES (\(deck.id), \(deck.name), \(time)) ON CONFLICT DO NOTHING"
            ).affectedRows
            guard inserted == 1 else { return }
            try await tx.query(
                """
                INSERT INTO deck_questions (deck_id, position, question_id, version)
                SELECT \(deck.id), position - 1, question_id, version
                FROM unnest(\(PostgresArray(deck.questions.map(\.id)))::text[], \(PostgresArray(deck.questions.map(\.version)))::text[])
                     WITH ORDINALITY AS q(question_id, version, position)
                """)
        }
    }

    public func questions(forKeys keys: Set<String>) async throws -> [String: Question] {
        guard !keys.isEmpty else { return [:] }
        let pairs = keys.sorted().map { $0.split(separator: "/", maxSplits: 1).map(String.init) }.filter { $0.count == 2 }
        let rows = try await pool.query(
            """
            SELECT v.question_id, v.version, v.prompt, v.options::text[], v.correct::int[]
            FROM unnest(\(PostgresArray(pairs.map { $0[0] }))::text[], \(PostgresArray(pairs.map { $0[1] }))::text[]) AS k(question_id, version)
            JOIN question_versions v USING (question_id, version)
            """)
        var found: [String: Question] = [:]
        for row in rows {
            let question = Question(
                prompt: try row.decode(at: 2), options: try PostgresTextArray.parse(try row.decode(String.self, at: 3)),
                correct: try PostgresTextArray.parse(try row.decode(String.self, at: 4)).compactMap { Int($0) })
            found[AttemptReview.key(try row.decode(at: 0), try row.decode(at: 1))] = question
        }
        return found
    }
}

extension PostgresStore: SessionRepository {
    public func storeSessions(_ sessions: [StudySession], userID: Int64, deviceID: String) async throws {
        guard let query = Self.sessionsQuery(sessions, userID: userID, deviceID: deviceID) else { return }
        try await pool.query(query)
    }

    /// The statement that stores `sessions` (those already stored are left as they are); nil for none.
    static func sessionsQuery(_ sessions: [StudySession], userID: Int64, deviceID: String) -> PostgresQuery? {
        guard !sessions.isEmpty else { return nil }
        return """
            INSERT INTO study_sessions (id, user_id, device_id, deck_id, started_at)
            SELECT id, \(userID), \(deviceID)::uuid, deck_id, started_at
            FROM unnest(\(PostgresArray(sessions.map(\.id)))::uuid[], \(PostgresArray(sessions.map(\.deckId)))::text[],
                        \(PostgresArray(sessions.map(\.startedAt)))::bigint[]) AS s(id, deck_id, started_at)
            ON CONFLICT DO NOTHING
            """
    }
}
