import LibPQ
import StudyCore
import StudyStorage

/// Pulls: a page of the learner's attempts after a cursor, by their gap-free sequence numbers.
extension PostgresStore {
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
                    SELECT c.attempt_seq, a.* FROM learner_counters c
                    LEFT JOIN LATERAL (
                        SELECT \(unsafeRaw: Self.pullColumns) FROM attempts
                        WHERE user_id = c.user_id AND seq > \(scanned) AND seq <= \(upper)
                          AND (\(excludingDevice)::uuid IS NULL OR device_id <> \(excludingDevice)::uuid)
                        ORDER BY seq
                    ) a ON true
                    WHERE c.user_id = \(userID)
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
        try await pool.query("SELECT attempt_seq FROM learner_counters WHERE user_id = \(userID)").scalar(Int64.self) ?? 0
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
