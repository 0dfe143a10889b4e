import LibPQ
import StudyCore

/// Step 3 of a push: the new attempts stored with one binary COPY.
extension PostgresStore {
    public static let attemptColumns = [
        "user_id", "seq", "id", "device_id", "question_id", "question_version", "chosen", "correct", "answered_at", "duration_ms", "session_id",
        "received_at", "flags",
    ]

    /// Copies the page's attempts at `fresh` into `attempts`, `fresh[n]` numbered `base + 1 + n`. With nothing set aside
    /// by a look-up that is every row, numbered in place (a retry numbers them again); otherwise the fresh ones are copied
    /// out first.
    static func copy(_ page: inout PushPage, fresh: [Int], numberedAfter base: Int64, on tx: PostgresConnection) async throws {
        func copy(_ rows: inout PostgresBinaryRows) async throws {
            for n in 0..<rows.count { rows.setInt64(base + 1 + Int64(n), row: n, field: 1) }
            try await tx.copyBinary(into: "attempts", columns: attemptColumns, rows: rows)
        }
        if fresh.count == page.rows.count {
            try await copy(&page.rows)
        } else {
            var subset = page.rows.rows(at: fresh.map { page.rowOf[$0] })
            try await copy(&subset)
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
