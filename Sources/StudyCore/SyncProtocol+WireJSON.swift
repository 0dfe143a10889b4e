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
            case "chosen":
                var first: Int?, all: [Int] = []
                try json.readArray { (json: inout JSONReader) throws(WireJSONError) in
                    let option = try json.readInt()
                    if let first, all.isEmpty { all.append(first) }
                    if first == nil { first = option } else { all.append(option) }
                }
                chosen = all.isEmpty ? first.map { Attempt.oneOption($0) ?? [$0] } ?? [] : all
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
    /// The request body as JSON.
    public func wireJSON() -> [UInt8] {
        var json = JSONWriter(capacity: 256 + attempts.count * 300)
        json.object { json in
            json.key("clientTime")
            json.int(clientTime)
            json.key("cursor")
            json.int(cursor)
            json.key("attempts")
            json.array { json in for attempt in attempts { attempt.write(to: &json) } }
            json.key("sessions")
            json.array { json in for session in sessions { session.write(to: &json) } }
            if let pullLimit {
                json.key("pullLimit")
                json.int(pullLimit)
            }
        }
        return json.bytes
    }

    public init(wireJSON bytes: some Collection<UInt8>) throws(WireJSONError) {
        self = try JSONReader.read(bytes) { (json: inout JSONReader) throws(WireJSONError) -> SyncRequest in
            var clientTime: Int64?, cursor: Int64?, attempts: [Attempt]?, sessions: [StudySession]?, pullLimit: Int?
            try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
                switch key {
                case "clientTime": clientTime = try json.readInt64()
                case "cursor": cursor = try json.readInt64()
                case "attempts":
                    var strings = SharedStrings()
                    attempts = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try Attempt(from: &json, sharing: &strings) }
                case "sessions": sessions = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try StudySession(from: &json) }
                case "pullLimit": pullLimit = try json.readNull() ? nil : try json.readInt()
                default: try json.skipValue()
                }
            }
            return SyncRequest(
                clientTime: try required(clientTime, "clientTime"), cursor: try required(cursor, "cursor"), attempts: try required(attempts, "attempts"),
                sessions: try required(sessions, "sessions"), pullLimit: pullLimit)
        }
    }
}

extension SyncResponse {
    /// The response body as JSON.
    public func wireJSON() -> [UInt8] {
        var json = JSONWriter(capacity: 256 + results.count * 80 + attempts.count * 330)
        json.object { json in
            json.key("results")
            json.array { json in
                for result in results {
                    json.object { json in
                        json.key("id")
                        json.string(result.id)
                        json.key("status")
                        json.string(result.status.rawValue)
                        if let seq = result.seq {
                            json.key("seq")
                            json.int(seq)
                        }
                        if let reason = result.reason {
                            json.key("reason")
                            json.string(reason)
                        }
                    }
                }
            }
            json.key("attempts")
            json.array { json in
                for pulled in attempts {
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
        }
        return json.bytes
    }

    public init(wireJSON bytes: some Collection<UInt8>) throws(WireJSONError) {
        self = try JSONReader.read(bytes) { (json: inout JSONReader) throws(WireJSONError) -> SyncResponse in
            var results: [PushResult]?, attempts: [PulledAttempt]?, cursor: Int64?, hasMore: Bool?, serverTime: Int64?, clockOffset: Int64?
            var clockWarning: String?
            try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
                switch key {
                case "results": results = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try PushResult(from: &json) }
                case "attempts":
                    var strings = SharedStrings()
                    attempts = try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try PulledAttempt(from: &json, sharing: &strings) }
                case "cursor": cursor = try json.readInt64()
                case "hasMore": hasMore = try json.readBool()
                case "serverTime": serverTime = try json.readInt64()
                case "clockOffsetMs": clockOffset = try json.readInt64()
                case "clockWarning": clockWarning = try json.readNull() ? nil : try json.readString()
                default: try json.skipValue()
                }
            }
            return SyncResponse(
                results: try required(results, "results"), attempts: try required(attempts, "attempts"), cursor: try required(cursor, "cursor"),
                hasMore: try required(hasMore, "hasMore"), serverTime: try required(serverTime, "serverTime"),
                clockOffsetMs: try required(clockOffset, "clockOffsetMs"), clockWarning: clockWarning)
        }
    }
}

extension PushResult {
    init(from json: inout JSONReader) throws(WireJSONError) {
        var id: String?, status: Status?, seq: Int64?, reason: String?
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "id": id = try json.readString()
            case "status":
                guard let known = Status(rawValue: try json.readString()) else { throw WireJSONError(.wrongType, "an unknown status", path: []) }
                status = known
            case "seq": seq = try json.readNull() ? nil : try json.readInt64()
            case "reason": reason = try json.readNull() ? nil : try json.readString()
            default: try json.skipValue()
            }
        }
        self.init(id: try required(id, "id"), status: try required(status, "status"), seq: seq, reason: reason)
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
