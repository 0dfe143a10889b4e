import Foundation
import StudyCore
import Testing

@testable import StudyAPI

/// The hand-written sync codec must read and write exactly the JSON that the Codable forms of the same types do.
@Suite struct WireJSONTests {
    static let awkward = ["", "plain", "quote \" and \\ backslash", "new\nline\ttab\r", "\u{01}\u{1F}", "é ü 中文", "emoji 😀", "slash / end", "NULL"]

    func text(_ rng: inout SeededGenerator) -> String {
        Bool.random(using: &rng)
            ? UUIDv7.make(milliseconds: 1_700_000_000_000, using: &rng)
            : Self.awkward.randomElement(using: &rng)! + String(Int.random(in: 0...99, using: &rng))
    }

    func attempt(_ rng: inout SeededGenerator) -> Attempt {
        Attempt(
            id: text(&rng), deviceID: text(&rng), questionID: text(&rng), questionVersion: text(&rng),
            chosen: (0..<Int.random(in: 0...4, using: &rng)).map { _ in Int.random(in: -3...12, using: &rng) },
            correct: Bool.random(using: &rng), answeredAt: Int64.random(in: Int64.min...Int64.max, using: &rng),
            durationMs: Int64.random(in: -5...10_000_000, using: &rng), sessionID: text(&rng))
    }

    func request(_ seed: UInt64) -> SyncRequest {
        var rng = SeededGenerator(seed: seed)
        return SyncRequest(
            clientTime: Int64.random(in: 0...Int64.max, using: &rng), cursor: Int64.random(in: -1...1_000_000, using: &rng),
            attempts: (0..<Int.random(in: 0...20, using: &rng)).map { _ in attempt(&rng) },
            sessions: (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                StudySession(id: text(&rng), deckId: text(&rng), startedAt: Int64.random(in: 0...99, using: &rng))
            },
            pullLimit: Bool.random(using: &rng) ? Int.random(in: 0...10_000, using: &rng) : nil, resultRuns: Bool.random(using: &rng),
            listDecks: Bool.random(using: &rng))
    }

    func response(_ seed: UInt64) -> SyncResponse {
        var rng = SeededGenerator(seed: seed)
        let outcomes: [(status: PushResult.Status, seq: Int64?, reason: String?)] = [
            (.inserted, 4, nil), (.duplicate, 9, nil), (.conflict, nil, nil), (.rejected, nil, "id must be a UUID \"x\""),
        ]
        return SyncResponse(
            results: (0..<Int.random(in: 0...10, using: &rng)).map { _ in
                let outcome = outcomes.randomElement(using: &rng)!
                return PushResult(
                    id: text(&rng), status: outcome.status, seq: outcome.seq, reason: outcome.reason,
                    ahead: outcome.seq != nil && Bool.random(using: &rng))
            },
            attempts: (0..<Int.random(in: 0...10, using: &rng)).map { _ in
                PulledAttempt(seq: Int64.random(in: 1...1_000, using: &rng), attempt: attempt(&rng), flags: Int32.random(in: 0...63, using: &rng))
            },
            cursor: Int64.random(in: 0...1_000, using: &rng), hasMore: Bool.random(using: &rng),
            serverTime: Int64.random(in: -9...Int64.max, using: &rng),
            clockOffsetMs: Int64.random(in: Int64.min...Int64.max, using: &rng), clockWarning: Bool.random(using: &rng) ? text(&rng) : nil,
            publishedDecks: Bool.random(using: &rng)
                ? (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                    PublishedDeck(
                        teamID: Int64.random(in: 1...Int64.max, using: &rng), deckID: text(&rng), name: text(&rng),
                        publishedAt: Int64.random(in: 0...Int64.max, using: &rng))
                } : nil)
    }

    @Test(arguments: 0..<150) func requestsMatchFoundationsCodableBothWays(seed: UInt64) throws {
        let value = request(seed)
        #expect(try SyncRequest(wireJSON: value.wireJSON()) == value)
        #expect(try JSONDecoder().decode(SyncRequest.self, from: Data(value.wireJSON())) == value)
        #expect(try SyncRequest(wireJSON: JSONEncoder().encode(value)) == value)
    }

    @Test(arguments: 0..<150) func responsesMatchFoundationsCodableBothWays(seed: UInt64) throws {
        let value = response(seed)
        #expect(try SyncResponse(wireJSON: value.wireJSON()) == value)
        #expect(try JSONDecoder().decode(SyncResponse.self, from: Data(value.wireJSON())) == value)
        #expect(try SyncResponse(wireJSON: JSONEncoder().encode(value)) == value)
    }

    @Test func sharedStringsAreTheStringsOfTheirBytesAndRepeatsShareOneCopy() {
        var rng = SeededGenerator(seed: 3)
        // Far more distinct strings than slots, so slots are taken over and collide; each one read three times.
        let texts =
            (0..<500).map { _ in UUIDv7.make(milliseconds: 1_700_000_000_000, using: &rng) } + [
                "short", "q0123456789abcdef", "é and more than fifteen bytes",
            ]
        var strings = SharedStrings()
        func read(_ text: String) -> String { Array(text.utf8).withUnsafeBufferPointer { strings.string($0) } }
        for text in texts + texts.shuffled(using: &rng) { #expect(read(text) == text) }
        // Read twice in a row, a long string is the same storage, not a copy.
        let first = read(texts[7]), second = read(texts[7])
        let addresses = [first, second].map { text in text.utf8.withContiguousStorageIfAvailable { UInt(bitPattern: $0.baseAddress) } }
        #expect(addresses[0] != nil && addresses[0] == addresses[1])
    }

    @Test func aPageSharesItsRepeatedIdsAndOneOptionAnswers() throws {
        var rng = SeededGenerator(seed: 4)
        let device = UUIDv7.make(milliseconds: 1, using: &rng), session = UUIDv7.make(milliseconds: 2, using: &rng)
        var attempts: [Attempt] = []
        for i in 0..<30 {
            let chosen: [Int] = i % 5 == 0 ? [1, 3] : i % 7 == 0 ? [12] : [i % 4]
            attempts.append(
                Attempt(
                    id: UUIDv7.make(milliseconds: Int64(i), using: &rng), deviceID: i == 10 ? "another device" : device,
                    questionID: "q0123456789abcdef\(i % 3)",
                    questionVersion: "v1", chosen: chosen, correct: true, answeredAt: Int64(i), durationMs: 1, sessionID: session))
        }
        let read = try SyncRequest(wireJSON: SyncRequest(clientTime: 1, cursor: 0, attempts: attempts, sessions: []).wireJSON()).attempts
        #expect(read == attempts)
        func address(_ text: String) -> UInt? { text.utf8.withContiguousStorageIfAvailable { UInt(bitPattern: $0.baseAddress) } }
        #expect(address(read[0].deviceID) == address(read[29].deviceID))
        #expect(address(read[0].sessionID) == address(read[29].sessionID))
        #expect(address(read[0].id) != address(read[1].id))
        #expect(read[1].chosen == [1] && read[2].chosen == [2] && read[14].chosen == [12] && read[15].chosen == [1, 3])
    }

    @Test func escapesAndUnknownFieldsAreRead() throws {
        let json = #"""
            { "future": {"a": [1, 2.5e3, -0.1, true, false, null, "x"]}, "sessions" : [ ], "cursor": 0, "pullLimit": null,
              "clientTime": -12, "attempts": [{"id": "a\"b\\c\/d\n\u00e9\ud83d\ude00", "deviceId": "d", "questionId": "q",
              "questionVersion": "v", "chosen": [2, 0], "correct": false, "answeredAt": 9223372036854775807, "durationMs": -9223372036854775808,
              "sessi\u006fnId": "s", "extra": {}, "\u00e9": 1}] }
            """#
        let request = try SyncRequest(wireJSON: Array(json.utf8))
        #expect(request.clientTime == -12 && request.cursor == 0 && request.pullLimit == nil && request.sessions.isEmpty)
        #expect(request.attempts[0].id == "a\"b\\c/d\né😀")
        #expect(request.attempts[0].chosen == [0, 2])
        #expect(request.attempts[0].answeredAt == .max && request.attempts[0].durationMs == .min)
        #expect(request.attempts[0].sessionID == "s")  // a key with an escape in it
    }

    func pushed(_ ids: [String]) -> [Attempt] {
        ids.map {
            Attempt(
                id: $0, deviceID: "d", questionID: "q", questionVersion: "v", chosen: [1], correct: true, answeredAt: 5, durationMs: 6, sessionID: "s"
            )
        }
    }

    @Test(arguments: 0..<150) func resultRunsReadAsTheResults(seed: UInt64) throws {
        let value = response(seed)
        #expect(try SyncResponse(wireJSON: value.wireJSON(resultRuns: true), pushed: pushed(value.results.map(\.id))) == value)
    }

    /// Results that follow one another with the same status and reason, numbered one after another, make one run.
    @Test func resultsFormRunsInThePagesOrder() throws {
        let ids = (0..<12).map { "a\($0)" }
        let outcomes: [(status: PushResult.Status, seq: Int64?, reason: String?)] = [
            (.inserted, 10, nil), (.inserted, 11, nil), (.inserted, 12, nil), (.rejected, nil, "r"), (.rejected, nil, "r"), (.rejected, nil, "other"),
            (.duplicate, 3, nil), (.duplicate, 4, nil), (.conflict, nil, nil), (.conflict, nil, nil), (.inserted, 13, nil), (.inserted, 15, nil),
        ]
        let value = SyncResponse(
            results: zip(ids, outcomes).map { PushResult(id: $0, status: $1.status, seq: $1.seq, reason: $1.reason) }, attempts: [], cursor: 15,
            hasMore: false, serverTime: 1,
            clockOffsetMs: 0,
            clockWarning: nil)
        let json = String(decoding: value.wireJSON(resultRuns: true), as: UTF8.self)
        #expect(
            json.hasPrefix(
                #"{"resultRuns":[{"count":3,"status":"inserted","seq":10},{"count":2,"status":"rejected","reason":"r"},"#
                    + #"{"count":1,"status":"rejected","reason":"other"},{"count":2,"status":"duplicate","seq":3},{"count":2,"status":"conflict"},"#
                    + #"{"count":1,"status":"inserted","seq":13},{"count":1,"status":"inserted","seq":15}],"attempts":[]"#))
        #expect(try SyncResponse(wireJSON: Array(json.utf8), pushed: pushed(ids)) == value)
        // Runs that count other than the page, or a run of none, are refused, naming the field.
        for bad in [pushed(Array(ids.dropLast())), pushed(ids + ["extra"]), []] {
            #expect(throws: WireJSONError.self) { try SyncResponse(wireJSON: Array(json.utf8), pushed: bad) }
        }
        do {
            _ = try SyncResponse(wireJSON: Array(json.utf8), pushed: [])
        } catch {
            #expect(error.field == "resultRuns")
        }
        let empty = json.replacingOccurrences(of: #""count":3"#, with: #""count":0"#)
        #expect(empty != json)
        #expect(throws: WireJSONError.self) { try SyncResponse(wireJSON: Array(empty.utf8), pushed: pushed(ids)) }
    }

    static let good = #"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [ATTEMPT]}"#
    static let attemptJSON =
        #"{"id": "i", "deviceId": "d", "questionId": "q", "questionVersion": "v", "chosen": [1], "correct": true, "answeredAt": 5, "durationMs": 6, "sessionId": "s"}"#

    static let rows = #"{"clientTime": 1, "cursor": 0, "sessions": [], "attemptRows": {"strings": ["d", "q", "v", "s"], "rows": [ROW]}}"#
    static let row = #"["i", 0, 1, 2, [1], true, 5, 6, 3]"#

    @Test func theRowFormReadsAsTheObjectForm() throws {
        let fromRows = try SyncRequest(wireJSON: Array(Self.rows.replacingOccurrences(of: "ROW", with: Self.row + ", " + Self.row).utf8))
        let fromObjects = try SyncRequest(
            wireJSON: Array(Self.good.replacingOccurrences(of: "ATTEMPT", with: Self.attemptJSON + ", " + Self.attemptJSON).utf8))
        #expect(fromRows == fromObjects && fromRows.attempts.count == 2)
        // JSON members have no order: the strings may follow the rows.
        let stringsLast = Self.rows.replacingOccurrences(
            of: #"{"strings": ["d", "q", "v", "s"], "rows": [ROW]}"#, with: #"{"rows": [ROW], "strings": ["d", "q", "v", "s"]}"#)
        #expect(try SyncRequest(wireJSON: Array(stringsLast.replacingOccurrences(of: "ROW", with: Self.row + ", " + Self.row).utf8)) == fromObjects)
        // What the client sends is the row form.
        #expect(
            String(decoding: fromRows.wireJSON(), as: UTF8.self).contains(
                #""attemptRows":{"strings":["d","q","v","s"],"rows":[["i",0,1,2,[1],true,5,6,3],"#))
    }

    @Test(arguments: [
        (
            rows.replacingOccurrences(of: "ROW", with: row.replacingOccurrences(of: "0, 1, 2", with: "0, 4, 2")), WireJSONError.Kind.wrongType,
            "attemptRows.rows[0][2]"
        ),
        (rows.replacingOccurrences(of: "ROW", with: row.replacingOccurrences(of: "0, 1, 2", with: "-1, 1, 2")), .wrongType, "attemptRows.rows[0][1]"),
        (rows.replacingOccurrences(of: "ROW", with: row.replacingOccurrences(of: ", 3]", with: "]")), .wrongType, "attemptRows.rows[0]"),
        (rows.replacingOccurrences(of: "ROW", with: row.replacingOccurrences(of: ", 3]", with: ", 3, 3]")), .wrongType, "attemptRows.rows[0][9]"),
        (rows.replacingOccurrences(of: "ROW", with: row.replacingOccurrences(of: "true", with: "1")), .wrongType, "attemptRows.rows[0][5]"),
        (
            rows.replacingOccurrences(of: "ROW", with: row).replacingOccurrences(
                of: #""sessions": []"#, with: #""sessions": [], "attempts": [\#(attemptJSON)]"#),
            .wrongType, "attemptRows"
        ),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attemptRows": {"rows": [], "string": []}}"#, .missingField, "attemptRows.strings"),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attemptRows": {"strings": []}}"#, .missingField, "attemptRows.rows"),
        (#"{"clientTime": 1, "cursor": 0, "sessions": []}"#, .missingField, "attempts"),
    ])
    func badRowsNameTheirFault(_ json: String, _ kind: WireJSONError.Kind, _ field: String) {
        expectRefused(json, kind, field)
        // Foundation's Codable form refuses the same bodies.
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SyncRequest.self, from: Data(json.utf8)) }
    }

    @Test(arguments: [
        (#"{"cursor": 0, "sessions": [], "attempts": []}"#, WireJSONError.Kind.missingField, "clientTime"),
        (
            good.replacingOccurrences(of: "ATTEMPT", with: attemptJSON.replacingOccurrences(of: #""chosen": [1], "#, with: "")), .missingField,
            "attempts[0].chosen"
        ),
        (
            good.replacingOccurrences(of: "ATTEMPT", with: attemptJSON.replacingOccurrences(of: "[1]", with: #"["1"]"#)), .wrongType,
            "attempts[0].chosen[0]"
        ),
        (good.replacingOccurrences(of: "ATTEMPT", with: attemptJSON.replacingOccurrences(of: "true", with: "1")), .wrongType, "attempts[0].correct"),
        (
            good.replacingOccurrences(of: "ATTEMPT", with: attemptJSON.replacingOccurrences(of: ": 5,", with: ": 5.5,")), .wrongType,
            "attempts[0].answeredAt"
        ),
        (
            good.replacingOccurrences(of: "ATTEMPT", with: attemptJSON.replacingOccurrences(of: ": 5,", with: ": 92233720368547758070,")), .wrongType,
            "attempts[0].answeredAt"
        ),
        (#"{"clientTime": "1", "cursor": 0, "sessions": [], "attempts": []}"#, .wrongType, "clientTime"),
        (#"{"clientTime": 1, "cursor": 0, "sessions": {}, "attempts": []}"#, .wrongType, "sessions"),
        ("[]", .wrongType, ""),
        ("", .syntax, ""),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": []"#, .syntax, ""),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": []} x"#, .syntax, ""),
        (#"{"clientTime": 01, "cursor": 0, "sessions": [], "attempts": []}"#, .syntax, "clientTime"),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [], "x": "\q"}"#, .syntax, "x"),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [], "x": "\ud83d"}"#, .syntax, "x"),
        ("{\"clientTime\": 1, \"cursor\": 0, \"sessions\": [], \"attempts\": [], \"x\": \"a\u{01}\"}", .syntax, "x"),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [], "x": tru}"#, .syntax, "x"),
        (#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [], "x": -}"#, .syntax, "x"),
        (#"{"clientTime": 1 "cursor": 0}"#, .syntax, ""),
    ])
    func badBodiesNameTheirFault(_ json: String, _ kind: WireJSONError.Kind, _ field: String) { expectRefused(json, kind, field) }

    /// The wire codec refuses `json` with an error of `kind` naming `field`.
    func expectRefused(_ json: String, _ kind: WireJSONError.Kind, _ field: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            try SyncRequest(wireJSON: Array(json.utf8))
        } throws: { error in
            guard let error = error as? WireJSONError else { return false }
            return error.kind == kind && error.field == field
        }
    }

    /// 100,000 nested `[` in an unknown field once overflowed the reader's stack and killed the server.
    @Test(arguments: [33, 1_000, 100_000])
    func deepNestingIsRefusedNotRecursedInto(depth: Int) {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let nested = String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
            #expect {
                try SyncRequest(wireJSON: Array(#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [], "x": \#(nested)}"#.utf8))
            } throws: { error in
                guard let error = error as? WireJSONError else { return false }
                return error.kind == .syntax && error.field.hasPrefix("x") && error.description.contains("nested more than 32 deep")
            }
        }
        // As deep as the limit allows is read (and skipped).
        let deepest = String(repeating: "[", count: JSONReader.maxDepth - 1) + String(repeating: "]", count: JSONReader.maxDepth - 1)
        #expect(throws: Never.self) {
            try SyncRequest(wireJSON: Array(#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [], "x": \#(deepest)}"#.utf8))
        }
    }

    /// Property: whatever bytes arrive (a valid body cut short anywhere, bytes changed, brackets added), the reader either
    /// returns a request or throws a `WireJSONError`; it never traps. And a body cut short is never read as a request.
    @Test(arguments: 0..<200) func brokenBodiesAreRefusedNeverTrapped(seed: UInt64) {
        var rng = SeededGenerator(seed: 0x5EED_0000 + seed)
        let valid = request(seed).wireJSON()
        var broken = valid
        switch seed % 4 {
        case 0:
            broken = Array(valid.prefix(Int.random(in: 0..<valid.count, using: &rng)))
        case 1:
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                broken[Int.random(in: 0..<broken.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        case 2:
            let at = Int.random(in: 0...broken.count, using: &rng)
            broken.insert(
                contentsOf: Array(repeating: Array("[{\"".utf8).randomElement(using: &rng)!, count: Int.random(in: 1...5_000, using: &rng)), at: at)
        default:
            broken = (0..<Int.random(in: 0...512, using: &rng)).map { _ in
                Array("{}[]\",:0123456789-.eEtrufalsn \\u".utf8).randomElement(using: &rng)!
            }
        }
        do {
            let read = try SyncRequest(wireJSON: broken)
            if seed % 4 == 0 { Issue.record("a body cut short was read: \(read)") }
        } catch {
            // A WireJSONError, by the reader's typed throws.
        }
    }

    @Test func invalidUTF8IsRefused() {
        var bytes = Array(#"{"clientTime": 1, "cursor": 0, "sessions": [], "attempts": [], "x": "ab"}"#.utf8)
        bytes[bytes.count - 3] = 0xFF
        #expect(throws: WireJSONError.self) { try SyncRequest(wireJSON: bytes) }
    }

    @Test func errorsReadAsSentences() {
        #expect(
            WireJSONError(.missingField, "", path: ["attempts", "[2]", "chosen"]).description == "The JSON body lacks the field 'attempts[2].chosen'."
        )
        #expect(
            WireJSONError(.wrongType, "expected a string", path: ["cursor"]).description
                == "The JSON field 'cursor' has the wrong type: expected a string.")
    }
}
