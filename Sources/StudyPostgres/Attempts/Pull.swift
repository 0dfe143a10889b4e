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
                let (counter, attempts) = try await pool.query(
                    """
                    SELECT c.attempt_seq, a.* FROM learner_counters c
                    LEFT JOIN LATERAL (
                        SELECT \(unsafeRaw: Self.pullColumns) FROM attempts
                        WHERE user_id = c.user_id AND seq > \(scanned) AND seq <= \(upper)
                          AND (\(excludingDevice)::uuid IS NULL OR device_id <> \(excludingDevice)::uuid)
                        ORDER BY seq
                    ) a ON true
                    WHERE c.user_id = \(userID)
                    """
                ) { result throws(PostgresError) in
                    (result.count == 0 ? nil : try result.int64(0, 0), try Self.storedAttempts(result, offset: 1))
                }
                guard let counter else { return PullPage(attempts: [], cursor: cursor, hasMore: false) }
                latest = counter
                page += attempts
                first = false
            } else {
                page += try await pool.query(
                    """
                    SELECT \(unsafeRaw: Self.pullColumns) FROM attempts
                    WHERE user_id = \(userID) AND seq > \(scanned) AND seq <= \(upper)
                      AND (\(excludingDevice)::uuid IS NULL OR device_id <> \(excludingDevice)::uuid)
                    ORDER BY seq
                    """
                ) { result throws(PostgresError) in try Self.storedAttempts(result) }
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

    /// The attempts of a result whose columns from `offset` on are `pullColumns`, read in place: the values that repeat
    /// through a page (the device's id, the question's, its version, the session's) are made once and shared, and an
    /// answer of one option is the shared array. A row whose `seq` is NULL (the learner's row when the range held no
    /// attempt) holds none.
    static func storedAttempts(_ result: PostgresResultView, offset: Int = 0) throws(PostgresError) -> [StoredAttempt] {
        var strings = SharedStrings()
        var attempts: [StoredAttempt] = []
        attempts.reserveCapacity(result.count)
        for row in 0..<result.count where try !result.isNull(row, offset) {
            func text(_ column: Int, shared: Bool = true) throws(PostgresError) -> String {
                if try result.isNull(row, offset + column) {
                    throw PostgresError(kind: .decoding, message: "A pulled attempt has no value in column \(offset + column).")
                }
                return try result.withBytes(row, offset + column) { bytes throws(PostgresError) in
                    shared ? strings.string(bytes) : String(decoding: bytes, as: UTF8.self)
                }
            }
            let attempt = Attempt(
                id: try text(1, shared: false), deviceID: try text(2), questionID: try text(3), questionVersion: try text(4),
                chosen: try result.withBytes(row, offset + 5) { bytes throws(PostgresError) in try Self.options(bytes) },
                correct: try result.decode(Bool.self, row, offset + 6), answeredAt: try result.int64(row, offset + 7),
                durationMs: try result.int64(row, offset + 8), sessionID: try text(9))
            let flags = try result.int64(row, offset + 10)
            guard let rawFlags = Int32(exactly: flags) else {
                throw PostgresError(kind: .decoding, message: "A pulled attempt's flags \(flags) do not fit a 32-bit integer.")
            }
            attempts.append(StoredAttempt(seq: try result.int64(row, offset), attempt: attempt, flags: AttemptFlags(rawValue: rawFlags)))
        }
        return attempts
    }

    /// An integer array's text form (`{2}`, `{0,3}`), as the options chosen; a single option is the shared array.
    static func options(_ bytes: UnsafeBufferPointer<UInt8>) throws(PostgresError) -> [Int] {
        if bytes.count == 3, bytes[0] == UInt8(ascii: "{"), bytes[2] == UInt8(ascii: "}"),
            let shared = Attempt.oneOption(Int(bytes[1] &- UInt8(ascii: "0")))
        {
            return shared
        }
        let elements: [String]
        do {
            elements = try PostgresTextArray.parse(String(decoding: bytes, as: UTF8.self))
        } catch {
            throw PostgresError(kind: .decoding, message: "A pulled attempt's chosen options are not an array: \(error)")
        }
        return try elements.map { element throws(PostgresError) in
            guard let option = Int(element) else {
                throw PostgresError(kind: .decoding, message: "A pulled attempt's chosen options hold '\(element.prefix(20))', not a number.")
            }
            return option
        }
    }
}
