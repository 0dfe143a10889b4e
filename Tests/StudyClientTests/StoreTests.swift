import Foundation
import StudyAPI
import Testing

@testable import StudyClient
@testable import StudyCore

/// One directory for this test process's homes, removed when the process exits.
let testRoot: URL = {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("studysync-test-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(at: testRoot) }
    return root
}()

func temporaryDirectory() -> URL {
    let url = testRoot.appendingPathComponent(UUID().uuidString)
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func makeAttempt(_ question: Question, correct: Bool, at time: Int64, device: String = "dev", id: String = UUID().uuidString.lowercased()) -> Attempt
{
    let wrong = question.options.indices.first { !question.correct.contains($0) }!
    return Attempt(
        id: id, deviceID: device, questionID: question.id, questionVersion: question.version, chosen: correct ? question.correct : [wrong],
        correct: correct, answeredAt: time, durationMs: 1200, sessionID: "s")
}

@Suite struct StoreTests {
    let home = temporaryDirectory()

    @Test func theFirstOpenCreatesTheStoreAndLoadsTheBundledDeck() throws {
        let fresh = home.appendingPathComponent("nested/home")
        let store = try LocalStore(directory: fresh)
        let decks = try store.decks()
        #expect(decks.map(\.name) == ["ml-deployment"])
        #expect(decks[0].questions.count == 21)
        let mode = try FileManager.default.attributesOfItem(atPath: fresh.path)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        let journal = try store.db.query("PRAGMA journal_mode") { $0.text(0) }
        #expect(journal == ["wal"])
        #expect(try store.db.query("PRAGMA user_version") { $0.int(0) } == [Int64(Migrations.steps.count)])
    }

    @Test func reopeningKeepsTheDeviceIdAndDoesNotReloadTheBundledDeck() throws {
        let first = try LocalStore(directory: home)
        let q = try first.requireDeck("ml-deployment").questions[0]
        try first.record(makeAttempt(q, correct: true, at: 1_000))
        try first.db.run("DELETE FROM decks")
        let second = try LocalStore(directory: home)
        #expect(second.deviceID == first.deviceID)
        #expect(try second.decks().isEmpty)
        #expect(try second.attempts().count == 1)
    }

    @Test func aStoreFromANewerVersionIsRefused() throws {
        let store = try LocalStore(directory: home)
        try store.db.execute(script: "PRAGMA user_version = 99")
        #expect(throws: StoreError.self) { try LocalStore(directory: home) }
    }

    /// Schema step 4 moves what waits to be pushed into the outbox: a home from before keeps exactly its waiting
    /// attempts waiting; answers made after wait too, and the server's results take them out (a refused one set aside).
    @Test func theOutboxStepKeepsWhatWaitedAndNothingElse() throws {
        do {
            let old = try SQLiteDatabase(path: home.appendingPathComponent(LocalStore.fileName).path)
            for script in Migrations.steps.prefix(2) { try old.execute(script: script) }
            try old.execute(script: "PRAGMA user_version = 2")
            for (n, pushed) in [(1, 0), (2, 1), (3, 3), (4, 0)] {
                try old.run(
                    """
                    INSERT INTO attempts(id, device_id, question_id, question_version, chosen, correct, answered_at, duration_ms, session_id, pushed)
                    VALUES (?, 'd', 'q', 'v', '[0]', 1, ?, 1200, 's', ?)
                    """, [.text("0000000\(n)-0000-7000-8000-000000000000"), .integer(Int64(n) * 1_000), .integer(Int64(pushed))])
            }
        }
        let store = try LocalStore(directory: home)
        #expect(try store.pendingAttempts(limit: 10).map(\.answeredAt) == [1_000, 4_000])
        #expect(try store.pendingCount() == 2)
        #expect(try store.unsyncable() == (0, 1))
        let q = try store.requireDeck("ml-deployment").questions[0]
        try store.record(makeAttempt(q, correct: true, at: 5_000))
        let page = try store.pendingAttempts(limit: 10)
        #expect(page.map(\.answeredAt) == [1_000, 4_000, 5_000])
        #expect(try store.pendingAttempts(after: page[0], limit: 10) == Array(page.dropFirst()))
        let answer = SyncResponse(
            results: [
                PushResult(id: page[0].id, status: .inserted, seq: 1), PushResult(id: page[1].id, status: .rejected, reason: "no"),
                PushResult(id: page[2].id, status: .duplicate, seq: 2),
            ],
            attempts: [], cursor: 2, hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
        _ = try store.apply(answer, pushed: page, pushedSessions: [])
        #expect(try store.pendingCount() == 0)
        #expect(try store.unsyncable() == (0, 2))
        #expect(try store.attempts().count == 5)
    }

    /// Attempts restored from a backup wait to be pushed like answers made here; pulled ones and repeats do not.
    @Test func restoredAttemptsWaitInTheOutbox() throws {
        let store = try LocalStore(directory: home)
        let q = try store.requireDeck("ml-deployment").questions[0]
        let restored = [makeAttempt(q, correct: true, at: 1_000), makeAttempt(q, correct: false, at: 2_000)]
        #expect(try store.merge(restored).inserted == 2)
        #expect(try store.merge(restored).duplicates == 2)
        #expect(try store.pendingAttempts(limit: 10) == restored)
        let pulled = makeAttempt(q, correct: true, at: 3_000)
        let answer = SyncResponse(
            results: [], attempts: [PulledAttempt(seq: 1, attempt: pulled, flags: 0), PulledAttempt(seq: 2, attempt: restored[0], flags: 0)],
            cursor: 2, hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
        _ = try store.apply(answer, pushedSessions: [])
        // The pulled copy of a restored attempt takes it out of the outbox: the server has it.
        #expect(try store.pendingAttempts(limit: 10) == [restored[1]])
        #expect(try store.attempts().count == 3)
    }

    /// A pulled page is stored field for field: long and short text, non-ASCII text, the empty string (not NULL), several
    /// options, the ahead flag; the same page again changes nothing.
    @Test func pulledAttemptsAreStoredExactly() throws {
        let store = try LocalStore(directory: home)
        let q = try store.requireDeck("ml-deployment").questions[0]
        let before = try store.attempts()
        let long = Attempt(
            id: UUID().uuidString.lowercased(), deviceID: "appareil-é-😀-" + String(repeating: "x", count: 40), questionID: q.id,
            questionVersion: q.version, chosen: q.correct, correct: true, answeredAt: 5_000, durationMs: 1_200, sessionID: "")
        let short = Attempt(
            id: "a", deviceID: "d", questionID: q.id, questionVersion: q.version, chosen: [0, 3], correct: false, answeredAt: 6_000,
            durationMs: 0, sessionID: "s")
        let page = SyncResponse(
            results: [],
            attempts: [PulledAttempt(seq: 1, attempt: long, flags: 0), PulledAttempt(seq: 2, attempt: short, flags: AttemptFlags.ahead.rawValue)],
            cursor: 2, hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
        #expect(try store.apply(page, pushedSessions: []).inserted == 2)
        let stored = try store.attempts().filter { attempt in !before.contains { $0.id == attempt.id } }
        #expect(stored.sorted { $0.answeredAt < $1.answeredAt } == [long, short])
        #expect(try store.apply(page, pushedSessions: []).duplicates == 2)
        #expect(try store.attempts().count == before.count + 2)
    }

    /// Results that do not line up with the page (or come without it) still take the right attempts out of the outbox.
    @Test func resultsOutOfPlaceStillFindTheirAttempts() throws {
        let store = try LocalStore(directory: home)
        let q = try store.requireDeck("ml-deployment").questions[0]
        for t in [1_000, 2_000, 3_000] { try store.record(makeAttempt(q, correct: true, at: Int64(t))) }
        let page = try store.pendingAttempts(limit: 10)
        func answer(_ ids: [String]) -> SyncResponse {
            SyncResponse(
                results: ids.map { PushResult(id: $0, status: .inserted, seq: 1) }, attempts: [], cursor: 0, hasMore: false, serverTime: 1,
                clockOffsetMs: 0, clockWarning: nil)
        }
        _ = try store.apply(answer([page[2].id]), pushed: page, pushedSessions: [])
        #expect(try store.pendingAttempts(limit: 10) == Array(page.prefix(2)))
        _ = try store.apply(answer([page[1].id]), pushedSessions: [])
        #expect(try store.pendingAttempts(limit: 10) == [page[0]])
    }

    /// A page answered in order leaves the outbox as one range, but only when the range holds the page's rows and no
    /// other: an attempt made meanwhile inside it still waits, and one the page lacks is not taken for a missing one.
    @Test func anAnsweredPageLeavesTheOutboxAndNothingElseDoes() throws {
        let store = try LocalStore(directory: home)
        let q = try store.requireDeck("ml-deployment").questions[0]
        func answer(_ page: [Attempt]) -> SyncResponse {
            SyncResponse(
                results: page.map { PushResult(id: $0.id, status: .inserted, seq: 1) }, attempts: [], cursor: 0, hasMore: false, serverTime: 1,
                clockOffsetMs: 0, clockWarning: nil)
        }
        for t in [1_000, 2_000, 3_000] { try store.record(makeAttempt(q, correct: true, at: Int64(t))) }
        _ = try store.apply(answer(try store.pendingAttempts(limit: 10)), pushed: try store.pendingAttempts(limit: 10), pushedSessions: [])
        #expect(try store.pendingCount() == 0)

        for t in [4_000, 6_000] { try store.record(makeAttempt(q, correct: true, at: Int64(t))) }
        let page = try store.pendingAttempts(limit: 10)
        let meanwhile = makeAttempt(q, correct: false, at: 5_000)
        try store.record(meanwhile)
        _ = try store.apply(answer(page), pushed: page, pushedSessions: [])
        #expect(try store.pendingAttempts(limit: 10) == [meanwhile])

        // Another sync took the page's first attempt out already; an attempt made meanwhile takes its place in the range.
        for t in [7_000, 9_000] { try store.record(makeAttempt(q, correct: true, at: Int64(t))) }
        let second = try store.pendingAttempts(after: meanwhile, limit: 10)
        _ = try store.apply(answer([second[0]]), pushed: [second[0]], pushedSessions: [])
        let another = makeAttempt(q, correct: false, at: 8_000)
        try store.record(another)
        _ = try store.apply(answer(second), pushed: second, pushedSessions: [])
        #expect(try store.pendingAttempts(limit: 10) == [meanwhile, another])
    }

    /// The stored cursor moves over the numbers the results give this device's attempts when they follow it directly,
    /// never past a number it does not hold, and never back to an older cursor that a page sent earlier carried.
    @Test func theCursorMovesOverThisDevicesOwnNumbers() throws {
        let store = try LocalStore(directory: home)
        let q = try store.requireDeck("ml-deployment").questions[0]
        for t in [1_000, 2_000, 3_000, 4_000] { try store.record(makeAttempt(q, correct: true, at: Int64(t))) }
        let page = try store.pendingAttempts(limit: 10)
        func answer(_ results: [PushResult], cursor: Int64 = 0) -> SyncResponse {
            SyncResponse(results: results, attempts: [], cursor: cursor, hasMore: false, serverTime: 1, clockOffsetMs: 0, clockWarning: nil)
        }
        _ = try store.apply(
            answer([PushResult(id: page[1].id, status: .inserted, seq: 2), PushResult(id: page[0].id, status: .inserted, seq: 1)]),
            pushed: page, pushedSessions: [])
        #expect(store.syncCursor == 2)
        // 3 and 4 are another device's: the cursor waits for the pull, and the older cursor of this page is not taken.
        _ = try store.apply(
            answer([PushResult(id: page[2].id, status: .inserted, seq: 5), PushResult(id: page[3].id, status: .conflict)]),
            pushed: Array(page.dropFirst(2)), pushedSessions: [])
        #expect(store.syncCursor == 2)
        _ = try store.apply(answer([], cursor: 4), pushedSessions: [])
        #expect(store.syncCursor == 4)
        _ = try store.apply(answer([PushResult(id: page[2].id, status: .duplicate, seq: 5)], cursor: 4), pushedSessions: [])
        #expect(store.syncCursor == 5)
    }
    /// The chosen-options column is read in place when it is a plain list of small integers, and left to the JSON
    /// reader (nil) otherwise.
    @Test func aChosenListIsReadInPlace() throws {
        let db = try SQLiteDatabase(path: home.appendingPathComponent("lists.sqlite3").path)
        func read(_ text: String) throws -> [Int]? { try db.query("SELECT ?", [.text(text)]) { $0.smallIntList(0) }[0] }
        #expect(try read("[2]") == [2] && read("[0,3,9]") == [0, 3, 9] && read("[]") == [] && read("[12]") == [12])
        for odd in ["[1,]", "[,1]", "[a]", "[ 1]", "12", "[1", "", "[-1]", "[1,,2]", "[99999999]"] { #expect(try read(odd) == nil, "\(odd)") }
        #expect(try db.query("SELECT NULL") { $0.smallIntList(0) } == [nil])
        #expect(try db.query("SELECT ?", [.text("日本")]) { $0.text(0) } == ["日本"])
    }

    @Test func mergingIsASetUnionThatReportsConflicts() throws {
        let store = try LocalStore(directory: home)
        let q = try store.requireDeck("ml-deployment").questions[2]
        let a = makeAttempt(q, correct: true, at: 5_000)
        let b = makeAttempt(q, correct: false, at: 6_000)
        #expect(try store.merge([a, b]) == .init(inserted: 2, duplicates: 0, conflicts: []))
        #expect(try store.merge([b, a]) == .init(inserted: 0, duplicates: 2, conflicts: []))
        let forged = makeAttempt(q, correct: false, at: 5_000, id: a.id)
        #expect(try store.merge([forged]) == .init(inserted: 0, duplicates: 0, conflicts: [a.id]))
        #expect(try store.attempt(id: a.id) == a)
        #expect(try store.attempts() == [a, b])
    }

    @Test func reimportingAnEditedDeckKeepsOldVersionsAndAttempts() throws {
        let store = try LocalStore(directory: home)
        let v1 = try SeedFormat.parse("Capital of France?\n\nParis (Correct)\n\nLyon\n---\nTwo?\n\n2 (Correct)\n\n3\n", name: "geo")
        #expect(try store.importDeck(v1, source: "t") == .init(deck: "geo", added: 2, changed: 0, unchanged: 0, removed: 0))
        try store.record(makeAttempt(v1.questions[0], correct: true, at: 10))
        let v2 = try SeedFormat.parse("Capital of France?\n\nParis (Correct)\n\nLyons\n", name: "geo")
        #expect(try store.importDeck(v2, source: "t") == .init(deck: "geo", added: 0, changed: 1, unchanged: 0, removed: 1))
        #expect(try store.requireDeck("geo") == v2)
        #expect(try store.question(id: v1.questions[0].id, version: v1.questions[0].version) == v1.questions[0])
        #expect(try store.progress()[v2.questions[0].id]?.attempts == 1)
    }

    @Test func anUnknownDeckNamesTheDecksThereAre() throws {
        let store = try LocalStore(directory: home)
        #expect {
            try store.requireDeck("nope")
        } throws: { error in
            (error as? StoreError)?.description == "There is no deck named 'nope': the decks are: ml-deployment."
        }
    }

    @Test func theHomeResolvesFromFlagThenEnvironmentThenXDG() {
        #expect(StudyHome.resolve(explicit: "/a", environment: ["STUDY_HOME": "/b"]).path == "/a")
        #expect(StudyHome.resolve(explicit: nil, environment: ["STUDY_HOME": "/b", "XDG_DATA_HOME": "/x"]).path == "/b")
        #expect(StudyHome.resolve(explicit: nil, environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"]).path == "/x/studysync")
        #expect(StudyHome.resolve(explicit: nil, environment: ["XDG_DATA_HOME": "relative", "HOME": "/h"]).path == "/h/.local/share/studysync")
    }

    @Test func theHybridClockStartsAfterTheNewestStoredAttempt() throws {
        let store = try LocalStore(directory: home)
        let q = try store.requireDeck("ml-deployment").questions[0]
        try store.record(makeAttempt(q, correct: true, at: 9_000_000))
        var clock = try store.hybridClock()
        #expect(clock.stamp(wallClock: 1_000) == 9_000_001)
    }
}
