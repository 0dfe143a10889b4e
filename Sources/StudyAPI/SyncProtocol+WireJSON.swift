import StudyCore

/// The sync messages written and read with `JSONWriter`/`JSONReader`: the same JSON as their Codable forms (PROTOCOL.md),
/// at a fraction of the cost. Unknown fields are skipped; a missing required field or a value of the wrong type is an
/// error naming the field.

private func required<T>(_ value: T?, _ key: String) throws(WireJSONError) -> T {
    guard let value else { throw WireJSONError(.missingField, "", path: [key]) }
    return value
}

extension Attempt {
    public func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("id")
            json.string(id)
            json.key("deviceId")
            json.string(deviceID)
            json.key("questionId")
            json.string(questionID)
            json.key("questionVersion")
            json.string(questionVersion)
            json.key("chosen")
            json.array { json in for option in chosen { json.int(option) } }
            json.key("correct")
            json.bool(correct)
            json.key("answeredAt")
            json.int(answeredAt)
            json.key("durationMs")
            json.int(durationMs)
            json.key("sessionId")
            json.string(sessionID)
        }
    }

    /// An attempt whose device, question and session ids are shared through `strings` with the attempts read before it
    /// (a page's attempts mostly repeat them), as are one-option answers.
    public init(from json: inout JSONReader, sharing strings: inout SharedStrings) throws(WireJSONError) {
        var id: String?, deviceID: String?, questionID: String?, questionVersion: String?, chosen: [Int]?, correct: Bool?
        var answeredAt: Int64?, durationMs: Int64?, sessionID: String?
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "id": id = try json.readString()
            case "deviceId": deviceID = try json.readString(sharing: &strings)
            case "questionId": questionID = try json.readString(sharing: &strings)
            case "questionVersion": questionVersion = try json.readString(sharing: &strings)
            case "chosen": chosen = try Attempt.readChosen(from: &json)
            case "correct": correct = try json.readBool()
            case "answeredAt": answeredAt = try json.readInt64()
            case "durationMs": durationMs = try json.readInt64()
            case "sessionId": sessionID = try json.readString(sharing: &strings)
            default: try json.skipValue()
            }
        }
        self.init(
            id: try required(id, "id"), deviceID: try required(deviceID, "deviceId"), questionID: try required(questionID, "questionId"),
            questionVersion: try required(questionVersion, "questionVersion"), chosen: try required(chosen, "chosen"),
            correct: try required(correct, "correct"), answeredAt: try required(answeredAt, "answeredAt"),
            durationMs: try required(durationMs, "durationMs"), sessionID: try required(sessionID, "sessionId"))
    }
}

extension Attempt {
    /// A `chosen` list; a one-option list (most answers) is a shared array, not one more allocation.
    static func readChosen(from json: inout JSONReader) throws(WireJSONError) -> [Int] {
        var first: Int?, all: [Int] = []
        try json.readArray { (json: inout JSONReader) throws(WireJSONError) in
            let option = try json.readInt()
            if let first, all.isEmpty { all.append(first) }
            if first == nil { first = option } else { all.append(option) }
        }
        return all.isEmpty ? first.map { Attempt.oneOption($0) ?? [$0] } ?? [] : all
    }

    /// Writes `attempts` in the row form of a pushed page: `{"strings": [...], "rows": [[id, device, question, version,
    /// chosen, correct, answeredAt, durationMs, session], ...]}`, where device, question, version and session are
    /// positions in `strings`.
    static func writeRows(_ attempts: [Attempt], to json: inout JSONWriter) {
        var strings: [String] = []
        var positions: [String: Int] = [:]
        func position(of value: String) -> Int {
            if let known = positions[value] { return known }
            strings.append(value)
            positions[value] = strings.count - 1
            return strings.count - 1
        }
        // The positions of each attempt's device, question, version and session. A page's attempts mostly repeat the
        // device and session of the one before (often the very same storage), which is cheaper to compare than to hash.
        // The attempts are read in place: a copy of one is five reference counts up and down.
        var references = [Int](repeating: 0, count: attempts.count * 4)
        var lastDevice = "", lastDevicePosition = -1, lastSession = "", lastSessionPosition = -1
        for i in attempts.indices {
            if lastDevicePosition < 0 || attempts[i].deviceID != lastDevice {
                lastDevice = attempts[i].deviceID
                lastDevicePosition = position(of: lastDevice)
            }
            references[4 * i] = lastDevicePosition
            references[4 * i + 1] = position(of: attempts[i].questionID)
            references[4 * i + 2] = position(of: attempts[i].questionVersion)
            if lastSessionPosition < 0 || attempts[i].sessionID != lastSession {
                lastSession = attempts[i].sessionID
                lastSessionPosition = position(of: lastSession)
            }
            references[4 * i + 3] = lastSessionPosition
        }
        json.object { json in
            json.key("strings")
            json.array { json in for string in strings { json.string(string) } }
            json.key("rows")
            json.array { json in
                for i in attempts.indices {
                    json.array { json in
                        json.string(attempts[i].id)
                        json.int(references[4 * i])
                        json.int(references[4 * i + 1])
                        json.int(references[4 * i + 2])
                        json.array { json in for option in attempts[i].chosen { json.int(option) } }
                        json.bool(attempts[i].correct)
                        json.int(attempts[i].answeredAt)
                        json.int(attempts[i].durationMs)
                        json.int(references[4 * i + 3])
                    }
                }
            }
        }
    }

    /// Reads the row form `writeRows` writes (`strings` and `rows` in either order).
    static func readRows(from json: inout JSONReader, limit: Int = .max) throws(WireJSONError) -> [Attempt] {
        var strings: [String]?, rows: [Row]?
        let stringLimit = limit > Int.max / 4 ? Int.max : limit * 4
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "strings":
                strings = try json.readArray(atMost: stringLimit) { (json: inout JSONReader) throws(WireJSONError) in try json.readString() }
            case "rows": rows = try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) in try Row(from: &json) }
            default: try json.skipValue()
            }
        }
        let table = try required(strings, "strings")
        // Positions are looked up once both are read.
        return try required(rows, "rows").enumerated().map { (index, row) throws(WireJSONError) -> Attempt in
            func string(_ field: Int, _ position: Int) throws(WireJSONError) -> String {
                guard table.indices.contains(position) else {
                    throw WireJSONError(
                        .wrongType, "\(position) is not a position in 'strings' (it holds \(table.count))",
                        path: ["rows", "[\(index)]", "[\(Row.fields[field])]"])
                }
                return table[position]
            }
            return Attempt(
                id: row.id, deviceID: try string(0, row.positions.0), questionID: try string(1, row.positions.1),
                questionVersion: try string(2, row.positions.2), chosen: row.chosen, correct: row.correct, answeredAt: row.answeredAt,
                durationMs: row.durationMs, sessionID: try string(3, row.positions.3))
        }
    }

    /// One row of the row form, with its strings still positions.
    private struct Row {
        static let shape = "a row has 9 values: id, device, question, version, chosen, correct, answeredAt, durationMs, session"
        /// Where in a row the device, question, version and session positions are.
        static let fields = [1, 2, 3, 8]
        var id = "", chosen: [Int] = [], correct = false, answeredAt: Int64 = 0, durationMs: Int64 = 0
        /// The device, question, version and session positions (a tuple: an array would be one more allocation a row).
        var positions = (0, 0, 0, 0)

        init(from json: inout JSONReader) throws(WireJSONError) {
            var field = 0
            try json.readArray { (json: inout JSONReader) throws(WireJSONError) in
                switch field {
                case 0: id = try json.readString()
                case 1: positions.0 = try json.readInt()
                case 2: positions.1 = try json.readInt()
                case 3: positions.2 = try json.readInt()
                case 4: chosen = try Attempt.readChosen(from: &json)
                case 5: correct = try json.readBool()
                case 6: answeredAt = try json.readInt64()
                case 7: durationMs = try json.readInt64()
                case 8: positions.3 = try json.readInt()
                default: throw WireJSONError(.wrongType, Self.shape, path: [])
                }
                field += 1
            }
            guard field == 9 else { throw WireJSONError(.wrongType, Self.shape, path: []) }
        }
    }
}

extension SyncRequest {
    /// The pushed page from whichever form the request used; two forms at once (neither empty) is refused, as neither
    /// is plainly meant.
    static func page(attempts: [Attempt]?, attemptRows: [Attempt]?, attemptColumns: [Attempt]?) throws(WireJSONError) -> [Attempt] {
        let given = [("attempts", attempts), ("attemptRows", attemptRows), ("attemptColumns", attemptColumns)].filter { $0.1 != nil }
        guard let first = given.first else { throw WireJSONError(.missingField, "", path: ["attempts"]) }
        let filled = given.filter { !($0.1 ?? []).isEmpty }
        guard filled.count <= 1 else {
            throw WireJSONError(
                .wrongType, "send the page in one form: 'attempts', 'attemptRows' or 'attemptColumns'", path: [filled[1].0])
        }
        return (filled.first ?? first).1 ?? []
    }
}

extension StudySession {
    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("id")
            json.string(id)
            json.key("deckId")
            json.string(deckId)
            json.key("startedAt")
            json.int(startedAt)
        }
    }

    init(from json: inout JSONReader) throws(WireJSONError) {
        var id: String?, deckID: String?, startedAt: Int64?
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "id": id = try json.readString()
            case "deckId": deckID = try json.readString()
            case "startedAt": startedAt = try json.readInt64()
            default: try json.skipValue()
            }
        }
        self.init(id: try required(id, "id"), deckId: try required(deckID, "deckId"), startedAt: try required(startedAt, "startedAt"))
    }
}

extension SyncRequest {
    /// The request body as JSON; `columns`: the page in the column form (PROTOCOL.md, "The column form"), which a
    /// server says it reads in `GET /v1/meta`, else as rows.
    public func wireJSON(columns: Bool = false) -> [UInt8] {
        var json = JSONWriter(capacity: 256 + attempts.count * (columns ? 40 : 300))
        json.object { json in
            json.key("clientTime")
            json.int(clientTime)
            json.key("cursor")
            json.int(cursor)
            if columns && AttemptColumns.canWrite(attempts) {
                json.key("attemptColumns")
                AttemptColumns.write(attempts, to: &json)
            } else {
                // The page as rows (PROTOCOL.md, "attemptRows"): each attempt an array of its values in a fixed order,
                // its device, question and session ids written once in `strings` and referred to by position.
                json.key("attemptRows")
                Attempt.writeRows(attempts, to: &json)
            }
            json.key("sessions")
            json.array { json in for session in sessions { session.write(to: &json) } }
            if let pullLimit {
                json.key("pullLimit")
                json.int(pullLimit)
            }
            if resultRuns {
                json.key("resultRuns")
                json.bool(true)
            }
            if pullColumns {
                json.key("pullColumns")
                json.bool(true)
            }
            if listDecks {
                json.key("listDecks")
                json.bool(true)
            }
        }
        return json.bytes
    }

    public init(wireJSON bytes: some Collection<UInt8>) throws(WireJSONError) {
        self = try JSONReader.read(bytes) { (json: inout JSONReader) throws(WireJSONError) -> SyncRequest in
            var clientTime: Int64?, cursor: Int64?, attempts: [Attempt]?, rows: [Attempt]?, columns: [Attempt]?, sessions: [StudySession]?
            var pullLimit: Int?, resultRuns = false, pullColumns = false, listDecks = false
            try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
                switch key {
                case "clientTime": clientTime = try json.readInt64()
                case "cursor": cursor = try json.readInt64()
                case "attempts":
                    var strings = SharedStrings()
                    // Every form of the page is refused past `maxPushPage` as it is read, not after.
                    attempts = try json.readArray(atMost: SyncProtocol.maxPushPage) { (json: inout JSONReader) throws(WireJSONError) in
                        try Attempt(from: &json, sharing: &strings)
                    }
                case "attemptRows": rows = try Attempt.readRows(from: &json, limit: SyncProtocol.maxPushPage)
                case "attemptColumns": columns = try AttemptColumns.read(from: &json, limit: SyncProtocol.maxPushPage).attempts
                case "sessions": sessions = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try StudySession(from: &json) }
                case "pullLimit": pullLimit = try json.readNull() ? nil : try json.readInt()
                case "resultRuns": resultRuns = try json.readNull() ? false : try json.readBool()
                case "pullColumns": pullColumns = try json.readNull() ? false : try json.readBool()
                case "listDecks": listDecks = try json.readNull() ? false : try json.readBool()
                default: try json.skipValue()
                }
            }
            return SyncRequest(
                clientTime: try required(clientTime, "clientTime"), cursor: try required(cursor, "cursor"),
                attempts: try SyncRequest.page(attempts: attempts, attemptRows: rows, attemptColumns: columns),
                sessions: try required(sessions, "sessions"), pullLimit: pullLimit, resultRuns: resultRuns, pullColumns: pullColumns,
                listDecks: listDecks)
        }
    }
}

/// A run of push results that follow one another in the page (PROTOCOL.md, `resultRuns`): `count` attempts with the
/// same status, reason and `ahead`, numbered `seq`, `seq + 1`, … when they are numbered.
struct ResultRun {
    var status: PushResult.Status
    var count: Int
    var seq: Int64?
    var reason: String?
    var ahead = false

    /// The results as runs, in order.
    static func runs(of results: [PushResult]) -> [ResultRun] {
        var runs: [ResultRun] = []
        for result in results {
            if let last = runs.last, last.status == result.status, last.reason == result.reason, last.ahead == result.ahead,
                last.seq.map({ $0 + Int64(last.count) }) == result.seq
            {
                runs[runs.count - 1].count += 1
            } else {
                runs.append(ResultRun(status: result.status, count: 1, seq: result.seq, reason: result.reason, ahead: result.ahead))
            }
        }
        return runs
    }

    /// The results the runs give the pushed attempts, in order; nil when they count other than `pushed.count` (or
    /// number past 64 bits: the answer is not the server's).
    static func results(of runs: [ResultRun], for pushed: [Attempt]) -> [PushResult]? {
        var total = 0
        for run in runs {
            guard run.count <= pushed.count - total else { return nil }
            total += run.count
            if let seq = run.seq, seq > Int64.max - Int64(run.count) { return nil }
        }
        guard total == pushed.count else { return nil }
        var results: [PushResult] = []
        results.reserveCapacity(pushed.count)
        for run in runs {
            for n in 0..<run.count {
                results.append(
                    PushResult(
                        id: pushed[results.count].id, status: run.status, seq: run.seq.map { $0 + Int64(n) }, reason: run.reason, ahead: run.ahead))
            }
        }
        return results
    }

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("count")
            json.int(count)
            PushResult.writeOutcome(status, seq: seq, reason: reason, ahead: ahead, to: &json)
        }
    }

}

extension ResultRun {
    init(from json: inout JSONReader) throws(WireJSONError) {
        var status: PushResult.Status?, count: Int?, seq: Int64?, reason: String?, ahead = false
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "status": status = try PushResult.readStatus(from: &json)
            case "count":
                let value = try json.readInt()
                guard value > 0 else { throw WireJSONError(.wrongType, "a run counts at least one result", path: ["count"]) }
                count = value
            case "seq": seq = try json.readNull() ? nil : try json.readInt64()
            case "reason": reason = try json.readNull() ? nil : try json.readString()
            case "ahead": ahead = try json.readNull() ? false : try json.readBool()
            default: try json.skipValue()
            }
        }
        self.init(status: try required(status, "status"), count: try required(count, "count"), seq: seq, reason: reason, ahead: ahead)
    }
}

extension SyncResponse {
    /// The response body as JSON; `resultRuns`: the results as runs (`SyncRequest.resultRuns`), not one object each;
    /// `columns`: the pulled page in the column form (`SyncRequest.pullColumns`).
    public func wireJSON(resultRuns: Bool = false, columns: Bool = false) -> [UInt8] {
        var json = JSONWriter(capacity: 256 + (resultRuns ? 0 : results.count * 80) + attempts.count * 330)
        json.object { json in
            if resultRuns {
                json.key("resultRuns")
                json.array { json in for run in ResultRun.runs(of: results) { run.write(to: &json) } }
            } else {
                json.key("results")
                json.array { json in
                    for result in results {
                        json.object { json in
                            json.key("id")
                            json.string(result.id)
                            PushResult.writeOutcome(result.status, seq: result.seq, reason: result.reason, ahead: result.ahead, to: &json)
                        }
                    }
                }
            }
            // In the column form, `attempts` is left empty (a reader that knows the form reads `pulledColumns`).
            let facts = columns ? attempts.map(\.attempt) : []
            let asColumns = columns && AttemptColumns.canWrite(facts)
            if asColumns {
                json.key("pulledColumns")
                AttemptColumns.write(facts, seq: attempts.map(\.seq), flags: attempts.map(\.flags), to: &json)
            }
            json.key("attempts")
            json.array { json in
                for pulled in attempts where !asColumns {
                    json.object { json in
                        json.key("seq")
                        json.int(pulled.seq)
                        json.key("attempt")
                        pulled.attempt.write(to: &json)
                        json.key("flags")
                        json.int(pulled.flags)
                    }
                }
            }
            json.key("cursor")
            json.int(cursor)
            json.key("hasMore")
            json.bool(hasMore)
            json.key("serverTime")
            json.int(serverTime)
            json.key("clockOffsetMs")
            json.int(clockOffsetMs)
            if let clockWarning {
                json.key("clockWarning")
                json.string(clockWarning)
            }
            if let publishedDecks {
                json.key("publishedDecks")
                json.array { json in for deck in publishedDecks { deck.write(to: &json) } }
            }
        }
        return json.bytes
    }

    /// `pushed`: the page the request carried, which results given as runs (`resultRuns`) are of.
    public init(wireJSON bytes: some Collection<UInt8>, pushed: [Attempt] = []) throws(WireJSONError) {
        self = try JSONReader.read(bytes) { (json: inout JSONReader) throws(WireJSONError) -> SyncResponse in
            var results: [PushResult]?, attempts: [PulledAttempt]?, cursor: Int64?, hasMore: Bool?, serverTime: Int64?, clockOffset: Int64?
            var clockWarning: String?, publishedDecks: [PublishedDeck]?
            try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
                switch key {
                case "results": results = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try PushResult(from: &json) }
                case "resultRuns":
                    let runs = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try ResultRun(from: &json) }
                    guard let expanded = ResultRun.results(of: runs, for: pushed) else {
                        throw WireJSONError(.wrongType, "the runs do not count the \(pushed.count) attempts pushed", path: [])
                    }
                    results = expanded
                case "attempts":
                    var strings = SharedStrings()
                    let objects = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in
                        try PulledAttempt(from: &json, sharing: &strings)
                    }
                    if !objects.isEmpty || attempts == nil { attempts = objects }
                case "pulledColumns":
                    let page = try AttemptColumns.read(from: &json)
                    guard let seq = page.seq, let flags = page.flags else {
                        throw WireJSONError(.missingField, "", path: [page.seq == nil ? "seq" : "flags"])
                    }
                    let pulled = page.attempts.indices.map { PulledAttempt(seq: seq[$0], attempt: page.attempts[$0], flags: flags[$0]) }
                    if !pulled.isEmpty || attempts == nil { attempts = pulled }
                case "cursor": cursor = try json.readInt64()
                case "hasMore": hasMore = try json.readBool()
                case "serverTime": serverTime = try json.readInt64()
                case "clockOffsetMs": clockOffset = try json.readInt64()
                case "clockWarning": clockWarning = try json.readNull() ? nil : try json.readString()
                case "publishedDecks":
                    publishedDecks =
                        try json.readNull()
                        ? nil : try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try PublishedDeck(from: &json) }
                default: try json.skipValue()
                }
            }
            return SyncResponse(
                results: try required(results, "results"), attempts: try required(attempts, "attempts"), cursor: try required(cursor, "cursor"),
                hasMore: try required(hasMore, "hasMore"), serverTime: try required(serverTime, "serverTime"),
                clockOffsetMs: try required(clockOffset, "clockOffsetMs"), clockWarning: clockWarning,
                publishedDecks: publishedDecks)
        }
    }
}

extension PushResult {
    /// The members a result and a run of results share: `status`, then `seq`, `reason` and `ahead` when there are.
    static func writeOutcome(_ status: Status, seq: Int64?, reason: String?, ahead: Bool, to json: inout JSONWriter) {
        json.key("status")
        json.string(status.rawValue)
        if let seq {
            json.key("seq")
            json.int(seq)
        }
        if let reason {
            json.key("reason")
            json.string(reason)
        }
        if ahead {
            json.key("ahead")
            json.bool(true)
        }
    }

    static func readStatus(from json: inout JSONReader) throws(WireJSONError) -> Status {
        guard let known = Status(rawValue: try json.readString()) else { throw WireJSONError(.wrongType, "an unknown status", path: []) }
        return known
    }

    init(from json: inout JSONReader) throws(WireJSONError) {
        var id: String?, status: Status?, seq: Int64?, reason: String?, ahead = false
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "id": id = try json.readString()
            case "status": status = try Self.readStatus(from: &json)
            case "seq": seq = try json.readNull() ? nil : try json.readInt64()
            case "reason": reason = try json.readNull() ? nil : try json.readString()
            case "ahead": ahead = try json.readNull() ? false : try json.readBool()
            default: try json.skipValue()
            }
        }
        self.init(id: try required(id, "id"), status: try required(status, "status"), seq: seq, reason: reason, ahead: ahead)
    }
}

extension PulledAttempt {
    init(from json: inout JSONReader, sharing strings: inout SharedStrings) throws(WireJSONError) {
        var seq: Int64?, attempt: Attempt?, flags: Int32?
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "seq": seq = try json.readInt64()
            case "attempt": attempt = try Attempt(from: &json, sharing: &strings)
            case "flags": flags = try json.readInt32()
            default: try json.skipValue()
            }
        }
        self.init(seq: try required(seq, "seq"), attempt: try required(attempt, "attempt"), flags: try required(flags, "flags"))
    }
}

extension PublishedDeck {
    /// As `GET /v1/decks` lists it: `teamId`, `deckId`, `name`, `publishedAt`.
    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("teamId")
            json.int(teamID)
            json.key("deckId")
            json.string(deckID)
            json.key("name")
            json.string(name)
            json.key("publishedAt")
            json.int(publishedAt)
        }
    }

    init(from json: inout JSONReader) throws(WireJSONError) {
        var teamID: Int64?, deckID: String?, name: String?, publishedAt: Int64?
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "teamId": teamID = try json.readInt64()
            case "deckId": deckID = try json.readString()
            case "name": name = try json.readString()
            case "publishedAt": publishedAt = try json.readInt64()
            default: try json.skipValue()
            }
        }
        self.init(
            teamID: try required(teamID, "teamId"), deckID: try required(deckID, "deckId"), name: try required(name, "name"),
            publishedAt: try required(publishedAt, "publishedAt"))
    }
}
