import Foundation
import StudyAPI
import StudyCore

/// `attempts.sync_state`: where an attempt stands with the server. Whether it still waits to be pushed is the outbox's
/// to say (local schema step 4).
enum SyncState: Int64 {
    /// Made on this device, or restored from a backup: in the outbox until the server has it.
    case local = 0
    /// Pulled from the server (or pushed before the outbox existed).
    case fromServer = 1
    /// The server holds a different attempt under this id; this copy stays local.
    case conflict = 2
    /// The server refused it; `sync_note` says why.
    case rejected = 3
}

extension LocalStore {
    /// Attempts not yet accepted by the server, oldest first.
    public func pendingAttempts(limit: Int) throws -> [Attempt] { try pendingAttempts(after: nil, limit: limit) }

    /// Pending attempts that sort after `after` (by time, then id), oldest first: the next page while earlier ones are
    /// still with the server.
    public func pendingAttempts(after: Attempt?, limit: Int) throws -> [Attempt] {
        // The outbox in key order, each attempt found by its id.
        var strings = SharedStrings()
        return try db.query(
            """
            SELECT a.id, a.device_id, a.question_id, a.question_version, a.chosen, a.correct, a.answered_at, a.duration_ms, a.session_id
            FROM outbox o CROSS JOIN attempts a ON a.id = o.id
            WHERE (o.answered_at, o.id) > (?, ?) ORDER BY o.answered_at, o.id LIMIT ?
            """, [.integer(after?.answeredAt ?? .min), .text(after?.id ?? ""), .init(limit)]
        ) { try Self.decodeAttempt($0, sharing: &strings) }
    }

    public func pendingCount() throws -> Int {
        Int(try db.query("SELECT count(*) FROM outbox") { $0.int(0) }.first ?? 0)
    }

    /// Counts of attempts the server conflicted with or refused.
    public func unsyncable() throws -> (conflicts: Int, rejected: Int) {
        let rows = try db.query("SELECT sync_state, count(*) FROM attempts WHERE sync_state IN (2, 3) GROUP BY sync_state") {
            ($0.int(0), Int($0.int(1)))
        }
        let counts = Dictionary(uniqueKeysWithValues: rows)
        return (counts[SyncState.conflict.rawValue] ?? 0, counts[SyncState.rejected.rawValue] ?? 0)
    }

    /// The sessions the given attempts belong to that the server has not been sent.
    public func pendingSessions(for attempts: [Attempt]) throws -> [StudySession] {
        let waiting = try db.query("SELECT id, deck_id, started_at FROM sessions WHERE pushed = 0") {
            StudySession(id: $0.text(0), deckId: $0.text(1), startedAt: $0.int(2))
        }
        // Nearly always none wait (a session is sent with the first page of its attempts): then the page's session ids,
        // one hashed string per attempt, are not gathered at all.
        guard !waiting.isEmpty else { return [] }
        let ids = Set(attempts.map(\.sessionID))
        return waiting.filter { ids.contains($0.id) }
    }

    /// Applies one sync response in one local transaction: the pushed attempts' results, the pulled attempts, the new
    /// cursor. `pushed` is the page the request carried (its results come in its order). Until this commits nothing is
    /// marked, so a sync cut short anywhere is simply repeated.
    public func apply(_ response: SyncResponse, pushed: [Attempt] = [], pushedSessions: [StudySession]) throws -> Merge {
        // An answer that changes no attempt only moves the sync bookkeeping (last sync time, clock offset): that commit
        // need not wait for the disk; if it is lost, the next sync writes it again.
        let bookkeepingOnly = response.results.isEmpty && response.attempts.isEmpty && pushedSessions.isEmpty
        if bookkeepingOnly { try db.execute(script: "PRAGMA synchronous=NORMAL") }
        defer { if bookkeepingOnly { try? db.execute(script: "PRAGMA synchronous=FULL") } }
        // The answer time of a result's attempt (the outbox's key), from the page in order; by id for a result out of place.
        var byID: [String: Int64]?
        func answeredAt(ofResult index: Int, id: String) -> Int64? {
            if index < pushed.count && pushed[index].id == id { return pushed[index].answeredAt }
            if byID == nil { byID = Dictionary(pushed.map { ($0.id, $0.answeredAt) }, uniquingKeysWith: { first, _ in first }) }
            return byID?[id]
        }
        return try db.transaction {
            // Whatever the outcome, each attempt leaves the outbox: accepted, or set aside with the reason.
            let leftOutbox = try deleteOutboxRange(of: pushed, ifAnsweredBy: response.results)
            for (index, result) in response.results.enumerated() where !leftOutbox {
                if let time = answeredAt(ofResult: index, id: result.id) {
                    try db.run("DELETE FROM outbox WHERE answered_at = ? AND id = ?", [.integer(time), .text(result.id)])
                } else {
                    try db.run("DELETE FROM outbox WHERE id = ?", [.text(result.id)])
                }
            }
            // A conflicting or refused attempt is also set aside, with the reason.
            for result in response.results where result.status == .conflict || result.status == .rejected {
                let state: SyncState = result.status == .conflict ? .conflict : .rejected
                try db.run(
                    "UPDATE attempts SET sync_state = ?, sync_note = ? WHERE id = ?",
                    [.integer(state.rawValue), .init(result.reason), .text(result.id)])
            }
            // The server holds these with the `ahead` flag: they leave this device's progress and clock as well.
            for result in response.results where result.ahead { try db.run("UPDATE attempts SET ahead = 1 WHERE id = ?", [.text(result.id)]) }
            for session in pushedSessions { try db.run("UPDATE sessions SET pushed = 1 WHERE id = ?", [.text(session.id)]) }
            var merge = Merge()
            let insert = try db.statement(
                """
                INSERT INTO attempts(id, device_id, question_id, question_version, chosen, correct, answered_at, duration_ms, session_id, sync_state, server_seq, ahead)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT(id) DO NOTHING
                """)
            for pulled in response.attempts {
                let a = pulled.attempt
                let inserted = try insert.run { bind in
                    try bind.text(a.id)
                    try bind.text(a.deviceID)
                    try bind.text(a.questionID)
                    try bind.text(a.questionVersion)
                    try bind.text(JSONText.encode(a.chosen))
                    try bind.bool(a.correct)
                    try bind.int(a.answeredAt)
                    try bind.int(a.durationMs)
                    try bind.text(a.sessionID)
                    try bind.int(pulled.seq)
                    try bind.bool(pulled.flags & AttemptFlags.ahead.rawValue != 0)
                }
                if inserted == 1 {
                    merge.inserted += 1
                } else {
                    merge.duplicates += 1
                    if pulled.flags & AttemptFlags.ahead.rawValue != 0 { try db.run("UPDATE attempts SET ahead = 1 WHERE id = ?", [.text(a.id)]) }
                    // A copy this device had not pushed yet (restored from a backup, say) is now known to be on the server.
                    try db.run("DELETE FROM outbox WHERE answered_at = ? AND id = ?", [.integer(a.answeredAt), .text(a.id)])
                }
            }
            try setMeta("sync_cursor", String(Self.cursor(after: response, stored: syncCursor)))
            try setMeta("clock_offset_ms", String(response.clockOffsetMs))
            try setMeta("last_sync_at", String(response.serverTime))
            try setMeta("clock_warning", response.clockWarning)
            return merge
        }
    }

    /// Deletes a pushed page's outbox rows as one range, when the results answer the page in order and the outbox's rows
    /// from the page's first to its last are exactly the page's (as they were when it was read, unless an attempt was
    /// made or synced meanwhile); false, deleting nothing, otherwise. One statement instead of one per attempt.
    private func deleteOutboxRange(of pushed: [Attempt], ifAnsweredBy results: [PushResult]) throws -> Bool {
        guard let first = pushed.first, let last = pushed.last, results.count == pushed.count,
            pushed.indices.allSatisfy({ results[$0].id == pushed[$0].id })
        else { return false }
        let range: [SQLiteValue] = [.integer(first.answeredAt), .text(first.id), .integer(last.answeredAt), .text(last.id)]
        var matched = 0
        _ = try db.query("SELECT answered_at, id FROM outbox WHERE (answered_at, id) BETWEEN (?, ?) AND (?, ?) ORDER BY answered_at, id", range) {
            row in
            guard matched >= 0 else { return }
            if matched < pushed.count, row.int(0) == pushed[matched].answeredAt, row.text(1, is: pushed[matched].id) {
                matched += 1
            } else {
                matched = -1
            }
        }
        guard matched == pushed.count else { return false }
        try db.run("DELETE FROM outbox WHERE (answered_at, id) BETWEEN (?, ?) AND (?, ?)", range)
        return true
    }

    /// The cursor to keep after `response`: the answer's, or the stored one when a page sent before the last answer
    /// carried an older one, then moved over the sequence numbers the results give this device's own attempts. Those
    /// attempts are here, and the numbers are gap-free, so when they follow the cursor directly nothing before them is
    /// missing: the pulls after a push of 100,000 attempts then start past them instead of having the server skip them.
    static func cursor(after response: SyncResponse, stored: Int64) -> Int64 {
        let own = response.results.compactMap { result -> Int64? in
            result.status == .inserted || result.status == .duplicate ? result.seq : nil
        }
        return SyncProtocol.cursor(after: max(response.cursor, stored), passing: own)
    }

    public var syncCursor: Int64 { (try? meta("sync_cursor")).flatMap { $0.flatMap { Int64($0) } } ?? 0 }
    /// Server time minus this device's clock at the last sync; quiz stamps add it, so a wrong clock stamps right times.
    /// Kept within ±`AttemptRules.latestTime`, so that adding it to the wall clock cannot overflow.
    public var clockOffsetMs: Int64 {
        let stored = (try? meta("clock_offset_ms")).flatMap { $0.flatMap { Int64($0) } } ?? 0
        return min(max(stored, -AttemptRules.latestTime), AttemptRules.latestTime)
    }
    public var lastSyncAt: Int64? { (try? meta("last_sync_at")).flatMap { $0.flatMap { Int64($0) } } }
    public var clockWarning: String? { (try? meta("clock_warning")) ?? nil }

    /// Forgets the server's cursor, so the next sync pulls everything again (after logging in as someone else).
    public func resetSyncState() throws {
        try db.transaction {
            for key in ["sync_cursor", "clock_offset_ms", "last_sync_at", "clock_warning"] { try setMeta(key, nil) }
        }
    }
}

extension LocalStore {
    /// How long a server's `GET /v1/meta` is used without asking again: a day, so that what an upgraded server offers
    /// is used from the next day at the latest. (A server that refuses a request in the remembered forms is asked at once.)
    public static let serverMetaLifetimeMs: Int64 = 86_400_000

    /// The server's `GET /v1/meta` as a sync read it, when that was with `server` less than `serverMetaLifetimeMs` ago.
    public func rememberedServerMeta(for server: String, now: Int64 = Clock.nowMs()) throws -> MetaResponse? {
        guard try meta("server_meta_for") == server, let text = try meta("server_meta"),
            let at = try meta("server_meta_at").flatMap({ Int64($0) })
        else { return nil }
        let (age, overflow) = now.subtractingReportingOverflow(at)
        guard !overflow, (0..<Self.serverMetaLifetimeMs).contains(age) else { return nil }
        return try? JSONDecoder().decode(MetaResponse.self, from: Data(text.utf8))
    }

    /// Keeps `meta` for the next syncs with `server`.
    public func rememberServerMeta(_ meta: MetaResponse, for server: String, now: Int64 = Clock.nowMs()) throws {
        try db.transaction {
            try setMeta("server_meta", String(decoding: try JSONEncoder().encode(meta), as: UTF8.self))
            try setMeta("server_meta_for", server)
            try setMeta("server_meta_at", String(now))
        }
    }
}
