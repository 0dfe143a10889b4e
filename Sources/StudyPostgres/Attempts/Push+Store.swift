import LibPQ
import StudyCore

/// Step 3 of a push: the new attempts stored with one binary COPY.
extension PostgresStore {
    public static let attemptColumns = [
        "user_id", "seq", "id", "device_id", "question_id", "question_version", "chosen", "correct", "answered_at", "duration_ms", "session_id",
        "received_at", "flags",
    ]

    /// Copies the page's attempts at `fresh` into `attempts`, `fresh[n]` numbered `base + 1 + n`. Each row is written as
    /// the COPY sends it: the pages that wait for a connection or a learner's lock hold their attempts, not their rows.
    static func copy(_ page: PushPage, fresh: [Int], numberedAfter base: Int64, userID: Int64, receivedAt: Int64, on tx: PostgresConnection)
        async throws
    {
        let attempts = page.attempts
        let flags = page.flags
        try await tx.copyBinary(into: "attempts", columns: attemptColumns, count: fresh.count) { n, row in
            write(attempts[fresh[n]], into: &row, userID: userID, seq: base + 1 + Int64(n), receivedAt: receivedAt, flags: flags[fresh[n]])
        }
    }

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
