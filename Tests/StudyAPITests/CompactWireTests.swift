import Foundation
import StudyCore
import Testing

@testable import StudyAPI

/// The column form and compression (PROTOCOL.md, "The column form", "Compression"): what is written reads back as the
/// same page, hostile columns are refused naming the field, and a body that expands past its limit is stopped there.
@Suite struct CompactWireTests {
    static let device = "0f6c2b1e-8d4a-4c3b-9a7e-5b2d1c0e9f8a"

    /// A device's page as `study` makes it: ids from the device's counter, times a few seconds apart; some attempts made
    /// elsewhere (random ids, other devices), some multi-option.
    func page(_ rng: inout SeededGenerator, count: Int) -> [Attempt] {
        var time: Int64 = 1_780_000_000_000, counter = Int.random(in: 0...4_095, using: &rng)
        let other = UUIDv7.make(milliseconds: 5, using: &rng)
        return (0..<count).map { _ in
            time += Int64.random(in: 0...30_000, using: &rng)
            counter = (counter + 1) & UUIDv7.counterMask
            let elsewhere = Int.random(in: 0..<10, using: &rng) == 0
            let device = elsewhere && Bool.random(using: &rng) ? other : Self.device
            return Attempt(
                id: elsewhere ? UUIDv7.make(milliseconds: time, using: &rng) : UUIDv7.make(milliseconds: time, counter: counter, device: device)!,
                deviceID: device, questionID: "q\(Int.random(in: 0..<21, using: &rng))", questionVersion: "v1",
                chosen: Int.random(in: 0..<8, using: &rng) == 0 ? [0, 2] : [Int.random(in: 0...3, using: &rng)],
                correct: Bool.random(using: &rng), answeredAt: time, durationMs: Int64.random(in: 1_500...9_000, using: &rng),
                sessionID: "s\(Int.random(in: 0..<3, using: &rng))")
        }
    }

    @Test(arguments: 0..<50) func theColumnFormReadsBackAsThePage(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        let request = SyncRequest(
            clientTime: 1_780_000_000_000, cursor: 17, attempts: page(&rng, count: Int.random(in: 0...300, using: &rng)), pullLimit: 0,
            resultRuns: true, pullColumns: true)
        let json = request.wireJSON(columns: true)
        #expect(String(decoding: json, as: UTF8.self).contains("\"attemptColumns\""))
        #expect(try SyncRequest(wireJSON: json) == request)

        let pulled = page(&rng, count: Int.random(in: 0...300, using: &rng)).enumerated().map {
            PulledAttempt(seq: 1_000 + Int64($0.offset * 2), attempt: $0.element, flags: Int32.random(in: 0...63, using: &rng))
        }
        let response = SyncResponse(
            results: [], attempts: pulled, cursor: 9, hasMore: true, serverTime: 3, clockOffsetMs: -4, clockWarning: nil)
        let answer = response.wireJSON(resultRuns: true, columns: true)
        #expect(pulled.isEmpty || String(decoding: answer, as: UTF8.self).contains("\"pulledColumns\""))
        #expect(try SyncResponse(wireJSON: answer) == response)
    }

    @Test func aPageWithATimeOutOfRangeGoesAsRowsAndStillReadsBack() throws {
        var rng = SeededGenerator(seed: 1)
        var attempts = page(&rng, count: 5)
        let late = attempts[2]
        attempts[2] = Attempt(
            id: late.id, deviceID: late.deviceID, questionID: late.questionID, questionVersion: late.questionVersion, chosen: late.chosen,
            correct: late.correct, answeredAt: -7, durationMs: late.durationMs, sessionID: late.sessionID)
        let request = SyncRequest(clientTime: 1, cursor: 0, attempts: attempts)
        let json = request.wireJSON(columns: true)
        #expect(String(decoding: json, as: UTF8.self).contains("\"attemptRows\""))
        #expect(try SyncRequest(wireJSON: json) == request)
    }

    @Test func aDevicesIdsAreItsTimeCounterAndBitsAndOnlyThoseReadAsCounters() throws {
        let id = try #require(UUIDv7.make(milliseconds: 0x0123_4567_89AB, counter: 0xABC, device: Self.device))
        #expect(id == "01234567-89ab-7abc-9a7e-5b2d1c0e9f8a")
        #expect(UUIDv7.counter(of: id, milliseconds: 0x0123_4567_89AB, device: Self.device) == 0xABC)
        #expect(UUIDv7.counter(of: id, milliseconds: 0x0123_4567_89AC, device: Self.device) == nil)
        #expect(UUIDv7.counter(of: id.uppercased(), milliseconds: 0x0123_4567_89AB, device: Self.device) == nil)
        #expect(UUIDv7.counter(of: id, milliseconds: 0x0123_4567_89AB, device: "0f6c2b1e-8d4a-4c3b-9a7e-5b2d1c0e9f8b") == nil)
        #expect(UUIDv7.make(milliseconds: 1 << 48, counter: 0, device: Self.device) == nil)
        #expect(UUIDv7.make(milliseconds: 1, counter: 4_096, device: Self.device) == nil)
        #expect(UUIDv7.make(milliseconds: 1, counter: 0, device: "not a uuid") == nil)
        #expect(Attempt.isUUID(id))
    }

    static let columns =
        #"{"clientTime": 1, "cursor": 0, "sessions": [], "attemptColumns": {"strings": ["\#(device)", "q", "v", "s"], "id": [1, 1], "device": [0, 0], "question": [1, 1], "version": [2, 2], "session": [3, 3], "chosen": [1, [0, 2]], "correct": [1, 0], "answeredAt": [1780000000000, 4000], "durationMs": [5, 6]}}"#

    @Test func theColumnFormMakesTheIdsFromTheCounterSteps() throws {
        let request = try SyncRequest(wireJSON: Array(Self.columns.utf8))
        #expect(
            request.attempts.map(\.id)
                == [1, 2].map { UUIDv7.make(milliseconds: 1_780_000_000_000 + ($0 - 1) * 4_000, counter: Int($0), device: Self.device)! })
        #expect(request.attempts.map(\.chosen) == [[1], [0, 2]] && request.attempts.map(\.correct) == [true, false])
        #expect(request.attempts.map(\.questionID) == ["q", "q"] && request.attempts.map(\.durationMs) == [5, 6])
    }

    @Test(arguments: [
        (columns.replacingOccurrences(of: #""id": [1, 1]"#, with: #""id": [1, 4096]"#), WireJSONError.Kind.wrongType, "attemptColumns.id[1]"),
        (columns.replacingOccurrences(of: #""id": [1, 1]"#, with: #""id": [1, -1]"#), .wrongType, "attemptColumns.id[1]"),
        (columns.replacingOccurrences(of: #""device": [0, 0]"#, with: #""device": [0]"#), .wrongType, "attemptColumns.device"),
        (columns.replacingOccurrences(of: #""question": [1, 1]"#, with: #""question": [1, 4]"#), .wrongType, "attemptColumns.question[1]"),
        (columns.replacingOccurrences(of: #""device": [0, 0]"#, with: #""device": [0, 1]"#), .wrongType, "attemptColumns.id[1]"),
        (columns.replacingOccurrences(of: #""correct": [1, 0]"#, with: #""correct": [1, 2]"#), .wrongType, "attemptColumns.correct[1]"),
        (
            columns.replacingOccurrences(of: #""answeredAt": [1780000000000, 4000]"#, with: #""answeredAt": [9223372036854775807, 1]"#), .wrongType,
            "attemptColumns.answeredAt[1]"
        ),
        (columns.replacingOccurrences(of: #", "durationMs": [5, 6]"#, with: ""), .missingField, "attemptColumns.durationMs"),
        (
            columns.replacingOccurrences(
                of: #""sessions": []"#,
                with: #""sessions": [], "attemptRows": {"strings": ["d", "q", "v", "s"], "rows": [["i", 0, 1, 2, [1], true, 5, 6, 3]]}"#),
            .wrongType, "attemptColumns"
        ),
    ])
    func badColumnsNameTheirFault(_ json: String, _ kind: WireJSONError.Kind, _ field: String) {
        #expect {
            try SyncRequest(wireJSON: Array(json.utf8))
        } throws: { error in
            guard let error = error as? WireJSONError else { return false }
            return error.kind == kind && error.field == field
        }
    }

    /// A page past `maxPushPage` is refused while it is read, in every form, so a small body cannot make the server
    /// hold millions of attempts before it counts them.
    @Test func aPageOfMoreThanMaxPushPageIsRefusedAsItIsRead() throws {
        var rng = SeededGenerator(seed: 9)
        let request = SyncRequest(clientTime: 1, cursor: 0, attempts: page(&rng, count: SyncProtocol.maxPushPage + 1))
        for (json, field) in [
            (request.wireJSON(columns: true), "attemptColumns.id[5000]"), (request.wireJSON(), "attemptRows.rows[5000]"),
            ([UInt8](try JSONEncoder().encode(request)), "attempts[5000]"),
        ] {
            #expect {
                try SyncRequest(wireJSON: json)
            } throws: { error in
                (error as? WireJSONError).map { $0.kind == .tooLarge && $0.field == field } ?? false
            }
        }
        let fits = SyncRequest(clientTime: 1, cursor: 0, attempts: Array(request.attempts.dropLast()))
        #expect(try SyncRequest(wireJSON: fits.wireJSON(columns: true)).attempts.count == SyncProtocol.maxPushPage)
    }

    @Test func compressedBodiesReadBackAndABombStopsAtTheLimit() throws {
        try #require(ContentCoding.isAvailable, "libzstd.so.1 is on every Debian and Ubuntu system")
        var rng = SeededGenerator(seed: 7)
        let json = SyncRequest(clientTime: 1, cursor: 0, attempts: page(&rng, count: 2_000)).wireJSON(columns: true)
        let compressed = try #require(ContentCoding.compress(json))
        #expect(compressed.count * 3 < json.count)
        #expect(try ContentCoding.decompress(compressed, limit: json.count) == json)
        // One byte short of the whole: refused, not cut.
        #expect(throws: ContentCoding.DecompressionFailure.tooLarge) { try ContentCoding.decompress(compressed, limit: json.count - 1) }

        // 256 MiB of zeros is a few kilobytes compressed; read with a 1 MiB limit, it stops there.
        let zeros = [UInt8](repeating: 0, count: 256 << 20)
        let bomb = try #require(ContentCoding.compress(zeros))
        #expect(bomb.count < 64 << 10)
        #expect(throws: ContentCoding.DecompressionFailure.tooLarge) { try ContentCoding.decompress(bomb, limit: 1 << 20) }

        #expect(throws: ContentCoding.DecompressionFailure.malformed) { try ContentCoding.decompress(Array(compressed.dropLast(3)), limit: 1 << 20) }
        #expect(throws: ContentCoding.DecompressionFailure.malformed) { try ContentCoding.decompress(Array("not zstd".utf8), limit: 1 << 20) }
        #expect(throws: ContentCoding.DecompressionFailure.malformed) { try ContentCoding.decompress([UInt8](), limit: 1 << 20) }
    }

    @Test func acceptEncodingIsReadAsHTTPSaysIt() {
        #expect(ContentCoding.accepts("zstd"))
        #expect(ContentCoding.accepts("gzip, ZSTD;q=0.5"))
        #expect(ContentCoding.accepts(" br , zstd "))
        #expect(!ContentCoding.accepts("zstd;q=0"))
        #expect(!ContentCoding.accepts("gzip, deflate"))
        #expect(!ContentCoding.accepts(nil))
        #expect(!ContentCoding.accepts("zstdx"))
    }
}
