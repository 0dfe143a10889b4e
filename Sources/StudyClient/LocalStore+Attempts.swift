import Foundation
import StudyAPI
import StudyCore

extension LocalStore {
    /// Starts a study session on a deck and returns its id.
    public func startSession(deckID: String, at time: Int64) throws -> String {
        let id = UUID().uuidString.lowercased()
        try db.run(
            "INSERT INTO sessions(id, deck_id, device_id, started_at) VALUES (?, ?, ?, ?)",
            [.text(id), .text(deckID), .text(deviceID), .integer(time)])
        return id
    }

    /// The id of the attempt this device makes at `answeredAt`: the time, the device's next counter (kept with the
    /// store) and its own id's random bits (`UUIDv7.make(milliseconds:counter:device:)`), so a page of its attempts needs
    /// no random bits on the wire (PROTOCOL.md, "The column form").
    public func newAttemptID(answeredAt: Int64) throws -> String {
        let counter = ((try meta("attempt_counter")).flatMap { Int($0) }.map { $0 + 1 } ?? 0) & UUIDv7.counterMask
        try setMeta("attempt_counter", String(counter))
        return UUIDv7.make(milliseconds: answeredAt, counter: counter, device: deviceID) ?? UUIDv7.make(milliseconds: answeredAt)
    }

    /// The device's hybrid clock, seeded with the newest attempt this store holds from any device, leaving out those the
    /// server found stamped ahead of its clock: one wrong clock does not carry every device into the future.
    public func hybridClock() throws -> HybridClock {
        HybridClock(last: try db.query("SELECT COALESCE(MAX(answered_at), 0) FROM attempts WHERE ahead = 0") { $0.int(0) }.first ?? 0)
    }

    /// Records one answer durably: the row is committed when this returns.
    public func record(_ attempt: Attempt) throws {
        try db.transaction { _ = try insertLocal(attempt) }
    }

    /// Stores an attempt made or restored here, and lists it in the outbox until the server has it, inside the caller's
    /// transaction. False when the id is already stored and `ignoringExisting` (nothing changed then).
    func insertLocal(_ attempt: Attempt, ignoringExisting: Bool = false) throws -> Bool {
        let inserted = try db.run(ignoringExisting ? Self.insertAttemptUnlessStored : Self.insertAttempt, values(of: attempt))
        guard inserted == 1 else { return false }
        try db.run("INSERT INTO outbox(answered_at, id) VALUES (?, ?)", [.integer(attempt.answeredAt), .text(attempt.id)])
        return true
    }

    private static let insertAttempt = """
        INSERT INTO attempts(id, device_id, question_id, question_version, chosen, correct, answered_at, duration_ms, session_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    private static let insertAttemptUnlessStored = insertAttempt + " ON CONFLICT(id) DO NOTHING"

    /// The outcome of merging attempts into the store.
    public struct Merge: Sendable, Equatable {
        public var inserted = 0
        public var duplicates = 0
        /// Ids that already name a different attempt here; neither copy is changed.
        public var conflicts: [String] = []
    }

    /// Set-union merge in one transaction: new attempts are inserted, identical ones ignored, and a different attempt under
    /// an existing id is reported, never overwritten.
    public func merge(_ attempts: [Attempt]) throws -> Merge {
        try db.transaction {
            var result = Merge()
            for attempt in attempts {
                if try insertLocal(attempt, ignoringExisting: true) {
                    result.inserted += 1
                } else if try self.attempt(id: attempt.id) == attempt {
                    result.duplicates += 1
                } else {
                    result.conflicts.append(attempt.id)
                }
            }
            return result
        }
    }

    public func attempt(id: String) throws -> Attempt? {
        var strings = SharedStrings()
        return try db.query("\(Self.selectAttempt) WHERE id = ?", [.text(id)]) { try Self.decodeAttempt($0, sharing: &strings) }.first
    }

    /// Every attempt, in fold order `(answeredAt, id)`.
    public func attempts() throws -> [Attempt] {
        var strings = SharedStrings()
        return try db.query("\(Self.selectAttempt) ORDER BY answered_at, id") { try Self.decodeAttempt($0, sharing: &strings) }
    }

    /// The newest attempts first, at most `limit`.
    public func recentAttempts(limit: Int) throws -> [Attempt] {
        var strings = SharedStrings()
        return try db.query("\(Self.selectAttempt) ORDER BY answered_at DESC, id DESC LIMIT ?", [.init(limit)]) {
            try Self.decodeAttempt($0, sharing: &strings)
        }
    }

    /// Progress on every question with attempts: the pure fold of the stored attempts that count (not those the server
    /// holds as stamped ahead of its clock), the same fold as the server's.
    public func progress() throws -> [String: QuestionProgress] {
        var strings = SharedStrings()
        return Progress.foldAll(
            try db.query("\(Self.selectAttempt) WHERE ahead = 0 ORDER BY answered_at, id") { try Self.decodeAttempt($0, sharing: &strings) })
    }

    private func values(of a: Attempt) -> [SQLiteValue] {
        [
            .text(a.id), .text(a.deviceID), .text(a.questionID), .text(a.questionVersion), .text(JSONText.encode(a.chosen)), .init(a.correct),
            .integer(a.answeredAt), .integer(a.durationMs), .text(a.sessionID),
        ]
    }

    private static let selectAttempt =
        "SELECT id, device_id, question_id, question_version, chosen, correct, answered_at, duration_ms, session_id FROM attempts"

    /// An attempt from a row of the attempt columns in `selectAttempt`'s order (also `pendingAttempts`'s); its device,
    /// question and session ids are shared through `strings` with the rows read before it.
    static func decodeAttempt(_ row: SQLiteDatabase.Row, sharing strings: inout SharedStrings) throws -> Attempt {
        Attempt(
            id: row.text(0), deviceID: row.text(1, sharing: &strings), questionID: row.text(2, sharing: &strings),
            questionVersion: row.text(3, sharing: &strings),
            chosen: try row.smallIntList(4) ?? JSONText.decode([Int].self, row.text(4)), correct: row.int(5) != 0, answeredAt: row.int(6),
            durationMs: row.int(7),
            sessionID: row.text(8, sharing: &strings))
    }
}
