import Foundation
import LibPQ
import StudyAPI
import StudyClient
import StudyCore
import StudyPostgres

/// `studysync-bench codec`: the sync messages' JSON, encoded and decoded in this process alone, page by page, so a change
/// to the codec can be judged without the noise of a whole sync. Prints the median of 15 rounds per message.
enum CodecBench {
    static func run() throws {
        var rng = SeededGenerator(seed: 7)
        func id() -> String { UUIDv7.make(milliseconds: 1_700_000_000_000, using: &rng) }
        let device = id(), session = id()
        let attempts = (0..<SyncProtocol.maxPushPage).map { i in
            Attempt(
                id: id(), deviceID: device, questionID: "q\(i % 21)-0123456789abcdef", questionVersion: "v1-0123456789abcdef0123", chosen: [i % 4],
                correct: i % 3 == 0, answeredAt: 1_700_000_000_000 + Int64(i) * 4_000, durationMs: 3_500, sessionID: session)
        }
        let request = SyncRequest(clientTime: 1_700_000_000_000, cursor: 0, attempts: attempts, sessions: [])
        let results = SyncResponse(
            results: attempts.enumerated().map { PushResult(id: $0.element.id, status: .inserted, seq: Int64($0.offset + 1)) }, attempts: [],
            cursor: 0,
            hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
        let pulled = SyncResponse(
            results: [], attempts: attempts.enumerated().map { PulledAttempt(seq: Int64($0.offset + 1), attempt: $0.element, flags: 0) },
            cursor: Int64(attempts.count), hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
        let requestBytes = request.wireJSON(), resultBytes = results.wireJSON(), runBytes = results.wireJSON(resultRuns: true)
        let pulledBytes = pulled.wireJSON()
        func median(_ body: () throws -> Void) rethrows -> String {
            var samples: [Duration] = []
            for _ in 0..<15 { samples.append(try ContinuousClock().measure(body)) }
            return Bench.format(samples.sorted()[7])
        }
        print("StudySync codec benchmark — \(ISO8601DateFormatter().string(from: Date())) — \(Bench.machineDescription())")
        print("a page of \(attempts.count) attempts; median of 15 rounds")
        print(Bench.pad("encode push request", 36) + (try median { _ = request.wireJSON() }))
        print(Bench.pad("decode push request (server)", 36) + (try median { _ = try SyncRequest(wireJSON: requestBytes) }))
        print(
            Bench.pad("its COPY rows (server)", 36)
                + median {
                    var rows = PostgresBinaryRows(fields: Int16(PostgresStore.attemptColumns.count), capacity: attempts.count * 176)
                    for attempt in attempts { PostgresStore.appendRow(attempt, to: &rows, userID: 1, seq: 0, receivedAt: 1, flags: []) }
                })
        print(Bench.pad("encode push results (server)", 36) + (try median { _ = results.wireJSON() }))
        print(Bench.pad("decode push results", 36) + (try median { _ = try SyncResponse(wireJSON: resultBytes) }))
        print(Bench.pad("encode them as runs (server)", 36) + (try median { _ = results.wireJSON(resultRuns: true) }))
        print(Bench.pad("decode the runs", 36) + (try median { _ = try SyncResponse(wireJSON: runBytes, pushed: attempts) }))
        print(Bench.pad("encode pulled page (server)", 36) + (try median { _ = pulled.wireJSON() }))
        print(Bench.pad("decode pulled page", 36) + (try median { _ = try SyncResponse(wireJSON: pulledBytes) }))

        // The column form and compression, on a page as `study` makes it: ids from the device's counter, answers 4 s
        // apart taking 1.5-9 s, any of the deck's 21 questions (the shape of the Anki peer's reviews).
        let made = (0..<SyncProtocol.maxPushPage).map { i in
            let at = 1_700_000_000_000 + Int64(i) * 4_000
            return Attempt(
                id: UUIDv7.make(milliseconds: at, counter: i & UUIDv7.counterMask, device: device)!, deviceID: device,
                questionID: "q\(Int.random(in: 0..<21, using: &rng))-0123456789abcdef", questionVersion: "v1-0123456789abcdef0123",
                chosen: [Int.random(in: 0..<4, using: &rng)], correct: Bool.random(using: &rng), answeredAt: at,
                durationMs: Int64.random(in: 1_500...9_000, using: &rng), sessionID: session)
        }
        let page = SyncRequest(clientTime: 1_700_000_000_000, cursor: 0, attempts: made, sessions: [])
        let rows = page.wireJSON(), columns = page.wireJSON(columns: true)
        print(Bench.pad("encode push request, columns", 36) + median { _ = page.wireJSON(columns: true) })
        print(Bench.pad("decode push request, columns", 36) + (try median { _ = try SyncRequest(wireJSON: columns) }))
        // For comparing with gzip, which Python's zlib makes: scripts/bench-vs-anki's README section says how.
        try Data(rows).write(to: URL(fileURLWithPath: "/tmp/studysync-page-rows.json"))
        try Data(columns).write(to: URL(fileURLWithPath: "/tmp/studysync-page-columns.json"))
        print("bytes per attempt of that page (rows and columns written to /tmp/studysync-page-*.json):")
        for (name, bytes) in [("rows", rows), ("columns", columns)] {
            var line = Bench.pad("  \(name)", 12) + "plain " + String(format: "%.1f", Double(bytes.count) / Double(made.count))
            for level: Int32 in [1, 3, 9, 19] {
                let compressed = ContentCoding.compress(bytes, level: level) ?? []
                let time = median { _ = ContentCoding.compress(bytes, level: level) }
                line += ", zstd \(level) " + String(format: "%.2f", Double(compressed.count) / Double(made.count)) + " (\(time))"
            }
            let frame = ContentCoding.compress(bytes) ?? []
            line += ", unzstd " + (try median { _ = try ContentCoding.decompress(frame, limit: 1 << 26) })
            print(line)
        }
    }
}

/// `studysync-bench store`: the CLI's local store alone, page by page: reading a page of pending attempts, applying the
/// server's results for it, and storing a pulled page. Median of 9 rounds, each on a fresh home.
enum StoreBench {
    static func run() throws {
        var rng = SeededGenerator(seed: 9)
        print("StudySync local store benchmark — \(ISO8601DateFormatter().string(from: Date())) — \(Bench.machineDescription())")
        print("a page of \(SyncProtocol.maxPushPage) attempts; median of 9 rounds, each on a fresh home")
        var read: [Duration] = [], results: [Duration] = [], pulled: [Duration] = []
        for _ in 0..<9 {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("studysync-store-bench-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = try LocalStore(directory: directory)
            let deck = try store.requireDeck("ml-deployment")
            let session = try store.startSession(deckID: deck.id, at: 1_700_000_000_000)
            func page(device: String) -> [Attempt] {
                (0..<SyncProtocol.maxPushPage).map { i in
                    let q = deck.questions[i % deck.questions.count]
                    return Attempt(
                        id: UUIDv7.make(milliseconds: 1_700_000_000_000 + Int64(i) * 4_000, using: &rng), deviceID: device, questionID: q.id,
                        questionVersion: q.version, chosen: q.correct, correct: true, answeredAt: 1_700_000_000_000 + Int64(i) * 4_000,
                        durationMs: 3_500,
                        sessionID: session)
                }
            }
            try store.recordAll(page(device: store.deviceID))
            let clock = ContinuousClock()
            var pending: [Attempt] = []
            read.append(try clock.measure { pending = try store.pendingAttempts(limit: SyncProtocol.maxPushPage) })
            let answer = SyncResponse(
                results: pending.enumerated().map { PushResult(id: $0.element.id, status: .inserted, seq: Int64($0.offset + 1)) }, attempts: [],
                cursor: 0, hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
            results.append(try clock.measure { _ = try store.apply(answer, pushed: pending, pushedSessions: []) })
            let other = page(device: UUIDv7.make(milliseconds: 1, using: &rng))
            let pull = SyncResponse(
                results: [],
                attempts: other.enumerated().map {
                    PulledAttempt(seq: Int64(SyncProtocol.maxPushPage + $0.offset + 1), attempt: $0.element, flags: 0)
                },
                cursor: Int64(2 * SyncProtocol.maxPushPage), hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
            pulled.append(try clock.measure { _ = try store.apply(pull, pushedSessions: []) })
        }
        print(Bench.pad("read a page of pending attempts", 36) + Bench.format(read.sorted()[4]))
        print(Bench.pad("apply the results of a pushed page", 36) + Bench.format(results.sorted()[4]))
        print(Bench.pad("store a pulled page", 36) + Bench.format(pulled.sorted()[4]))
    }
}
