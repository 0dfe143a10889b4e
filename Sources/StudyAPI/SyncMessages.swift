import StudyCore

/// The sync protocol's wire types (PROTOCOL.md), shared by the server and the CLI so both sides agree by construction.
public enum SyncProtocol {
    public static let version = 1
    /// The request header in which a client names the protocol version it speaks; a server that does not speak it
    /// answers 426 `unsupported_protocol` with which side to upgrade.
    public static let versionHeader = "StudySync-Protocol"
    /// The most attempts one request may push.
    public static let maxPushPage = 5_000
    /// The most attempts one response pulls.
    public static let maxPullPage = 10_000
    /// The largest cursor a client may send: 2^53 - 1, the largest integer every JSON library reads exactly.
    public static let maxCursor: Int64 = 9_007_199_254_740_991
    /// The most sessions one request may send (a page's attempts belong to at most this many).
    public static let maxSessions = maxPushPage

    /// `cursor` moved over `ownNumbers`, the sequence numbers of a device's own attempts in one answer (inserted or
    /// duplicate), as far as they follow it directly. The device holds those attempts, and the numbers are gap-free, so
    /// nothing of anyone else's lies among them: a pull from the cursor returned need not read them only to leave them
    /// out. The server starts a request's pull there; the CLI stores it (PROTOCOL.md, "Sync algorithm", step 3).
    public static func cursor(after cursor: Int64, passing ownNumbers: [Int64]) -> Int64 {
        var cursor = cursor
        for number in ownNumbers.sorted() where number > cursor {
            guard number == cursor + 1 else { break }
            cursor = number
        }
        return cursor
    }
}

extension SyncRequest {
    /// The first field that is out of its range (PROTOCOL.md, "Bounds"), as (field, sentence); nil when all are in range.
    /// Attempts are not checked here: a malformed attempt is `rejected` on its own and the rest of the page is stored.
    public func problem() -> (field: String, message: String)? {
        if !(0...AttemptRules.latestTime).contains(clientTime) {
            return ("clientTime", "clientTime must be the client's clock in epoch milliseconds, from 0 to \(AttemptRules.latestTime).")
        }
        if !(0...SyncProtocol.maxCursor).contains(cursor) {
            return ("cursor", "cursor must be 0 or a sequence number the server returned (0 to \(SyncProtocol.maxCursor)).")
        }
        if let pullLimit, pullLimit < 0 {
            return ("pullLimit", "pullLimit must be 0 or more (the server caps it at \(SyncProtocol.maxPullPage)).")
        }
        if attempts.count > SyncProtocol.maxPushPage {
            return ("attempts", "Push at most \(SyncProtocol.maxPushPage) attempts per request; send the rest in the next one.")
        }
        if sessions.count > SyncProtocol.maxSessions {
            return ("sessions", "Send at most \(SyncProtocol.maxSessions) sessions per request.")
        }
        for (index, session) in sessions.enumerated() {
            if let problem = session.problem() { return ("sessions[\(index)].\(problem.field)", problem.message) }
        }
        return nil
    }
}

extension StudySession {
    /// The first field out of its range, or nil.
    public func problem() -> (field: String, message: String)? {
        if !Attempt.isUUID(id) { return ("id", "A session id must be a UUID.") }
        if !Attempt.isIdentifier(deckId) { return ("deckId", "A deck id is 1 to \(Attempt.maxIdentifierLength) letters, digits, '-' or '_'.") }
        if !(0...AttemptRules.latestTime).contains(startedAt) {
            return ("startedAt", "startedAt must be epoch milliseconds from 0 to \(AttemptRules.latestTime).")
        }
        return nil
    }
}

public struct SyncRequest: Sendable, Codable, Hashable {
    /// The client's wall clock when it sent the request, epoch milliseconds.
    public var clientTime: Int64
    /// The highest per-user sequence number the client has pulled (0 on a first sync).
    public var cursor: Int64
    public var attempts: [Attempt]
    public var sessions: [StudySession]
    /// How many attempts to pull at most; the server caps it at `SyncProtocol.maxPullPage`.
    public var pullLimit: Int?
    /// Asks for the results as runs in the page's order (`resultRuns`, PROTOCOL.md) instead of one object per attempt.
    public var resultRuns: Bool
    /// Asks for the pulled page in the column form (`pulledColumns`, PROTOCOL.md) instead of one object per attempt.
    public var pullColumns: Bool
    /// Asks for the decks published to the learner's teams in the answer that ends the sync (`publishedDecks`), so that
    /// a sync needs no `GET /v1/decks` of its own.
    public var listDecks: Bool

    public init(
        clientTime: Int64, cursor: Int64, attempts: [Attempt], sessions: [StudySession] = [], pullLimit: Int? = nil, resultRuns: Bool = false,
        pullColumns: Bool = false, listDecks: Bool = false
    ) {
        self.clientTime = clientTime
        self.cursor = cursor
        self.attempts = attempts
        self.sessions = sessions
        self.pullLimit = pullLimit
        self.resultRuns = resultRuns
        self.pullColumns = pullColumns
        self.listDecks = listDecks
    }

    enum CodingKeys: String, CodingKey { case clientTime, cursor, attempts, attemptRows, sessions, pullLimit, resultRuns, pullColumns, listDecks }

    /// Reads the page from `attempts` (objects) or `attemptRows` (the row form `wireJSON()` sends; PROTOCOL.md).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        clientTime = try container.decode(Int64.self, forKey: .clientTime)
        cursor = try container.decode(Int64.self, forKey: .cursor)
        let objects = try container.decodeIfPresent([Attempt].self, forKey: .attempts)
        let rows = try container.decodeIfPresent(AttemptRows.self, forKey: .attemptRows)?.attempts
        do {
            attempts = try Self.page(attempts: objects, attemptRows: rows, attemptColumns: nil)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .attemptRows, in: container, debugDescription: error.description)
        }
        sessions = try container.decode([StudySession].self, forKey: .sessions)
        pullLimit = try container.decodeIfPresent(Int.self, forKey: .pullLimit)
        resultRuns = try container.decodeIfPresent(Bool.self, forKey: .resultRuns) ?? false
        pullColumns = try container.decodeIfPresent(Bool.self, forKey: .pullColumns) ?? false
        listDecks = try container.decodeIfPresent(Bool.self, forKey: .listDecks) ?? false
    }

    /// Writes the page as objects, the form any JSON library reads most easily.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(clientTime, forKey: .clientTime)
        try container.encode(cursor, forKey: .cursor)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(sessions, forKey: .sessions)
        try container.encodeIfPresent(pullLimit, forKey: .pullLimit)
        if resultRuns { try container.encode(true, forKey: .resultRuns) }
        if pullColumns { try container.encode(true, forKey: .pullColumns) }
        if listDecks { try container.encode(true, forKey: .listDecks) }
    }
}

/// The row form of a pushed page, read through Codable: `strings`, then `rows` of nine values each.
struct AttemptRows: Decodable {
    let attempts: [Attempt]

    enum CodingKeys: String, CodingKey { case strings, rows }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let strings = try container.decode([String].self, forKey: .strings)
        var rows = try container.nestedUnkeyedContainer(forKey: .rows)
        var attempts: [Attempt] = []
        while !rows.isAtEnd {
            var row = try rows.nestedUnkeyedContainer()
            func string() throws -> String {
                let position = try row.decode(Int.self)
                guard strings.indices.contains(position) else {
                    throw DecodingError.dataCorruptedError(in: row, debugDescription: "\(position) is not a position in 'strings'")
                }
                return strings[position]
            }
            let id = try row.decode(String.self), deviceID = try string(), questionID = try string(), questionVersion = try string()
            let chosen = try row.decode([Int].self), correct = try row.decode(Bool.self), answeredAt = try row.decode(Int64.self)
            let durationMs = try row.decode(Int64.self), sessionID = try string()
            guard row.isAtEnd else { throw DecodingError.dataCorruptedError(in: row, debugDescription: "a row has 9 values") }
            attempts.append(
                Attempt(
                    id: id, deviceID: deviceID, questionID: questionID, questionVersion: questionVersion, chosen: chosen, correct: correct,
                    answeredAt: answeredAt, durationMs: durationMs, sessionID: sessionID))
        }
        self.attempts = attempts
    }
}

public struct PushResult: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable { case inserted, duplicate, conflict, rejected }
    public var id: String
    public var status: Status
    public var seq: Int64?
    public var reason: String?
    /// The server holds the attempt with the `ahead` flag (stamped beyond the clock tolerance in its future): the
    /// pushing device leaves it out of its progress and its clock as every other place does. On the wire only when true.
    public var ahead: Bool

    public init(id: String, status: Status, seq: Int64? = nil, reason: String? = nil, ahead: Bool = false) {
        self.id = id
        self.status = status
        self.seq = seq
        self.reason = reason
        self.ahead = ahead
    }

    enum CodingKeys: String, CodingKey { case id, status, seq, reason, ahead }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        status = try container.decode(Status.self, forKey: .status)
        seq = try container.decodeIfPresent(Int64.self, forKey: .seq)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        ahead = try container.decodeIfPresent(Bool.self, forKey: .ahead) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(seq, forKey: .seq)
        try container.encodeIfPresent(reason, forKey: .reason)
        if ahead { try container.encode(true, forKey: .ahead) }
    }
}

/// A pulled attempt: the fact plus its sequence number and the server's flags.
public struct PulledAttempt: Sendable, Codable, Hashable {
    public var seq: Int64
    public var attempt: Attempt
    public var flags: Int32

    public init(seq: Int64, attempt: Attempt, flags: Int32) {
        self.seq = seq
        self.attempt = attempt
        self.flags = flags
    }
}

public struct SyncResponse: Sendable, Codable, Hashable {
    /// One per pushed attempt, in the order pushed.
    public var results: [PushResult]
    /// Attempts from the user's other devices after the request's cursor, in sequence order.
    public var attempts: [PulledAttempt]
    /// The cursor to send next time. It may pass attempts not returned: those the requesting device pushed itself.
    public var cursor: Int64
    public var hasMore: Bool
    public var serverTime: Int64
    /// Server time minus client time when the request arrived, in milliseconds.
    public var clockOffsetMs: Int64
    /// Set when the client's clock is off by more than the tolerance: a sentence for the learner.
    public var clockWarning: String?
    /// The decks published to the learner's teams, when the request asked (`listDecks`) and this answer ends the sync
    /// (`hasMore` false); what `GET /v1/decks` lists.
    public var publishedDecks: [PublishedDeck]?

    public init(
        results: [PushResult], attempts: [PulledAttempt], cursor: Int64, hasMore: Bool, serverTime: Int64, clockOffsetMs: Int64,
        clockWarning: String?,
        publishedDecks: [PublishedDeck]? = nil
    ) {
        self.results = results
        self.attempts = attempts
        self.cursor = cursor
        self.hasMore = hasMore
        self.serverTime = serverTime
        self.clockOffsetMs = clockOffsetMs
        self.clockWarning = clockWarning
        self.publishedDecks = publishedDecks
    }
}
