import Foundation
import LibPQ
import PostgresTestSupport
import StudyCore
import StudyPostgres
import StudyStorage
import Testing

/// A migrated database of its own and a store over it.
func migratedStore(poolSize: Int = 4) async throws -> PostgresStore {
    let store = PostgresStore(pool: PostgresPool(configuration: try await TestDatabase.fresh(), size: poolSize))
    try await store.migrate()
    return store
}

func uuid() -> String { UUID().uuidString.lowercased() }

func attempt(
    question: String = "q1", correct: Bool = true, at time: Int64, device: String = "00000000-0000-4000-8000-000000000001", id: String = uuid()
) -> Attempt {
    Attempt(
        id: id, deviceID: device, questionID: question, questionVersion: "v1", chosen: correct ? [0] : [1], correct: correct, answeredAt: time,
        durationMs: 4_000, sessionID: "00000000-0000-4000-8000-00000000000a")
}

@Suite struct AccountRepositoryTests {
    @Test func usersAreUniqueByUsername() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let ada = try #require(try await store.createUser(username: "ada", displayName: "Ada L.", passwordHash: "$2b$…", role: .learner, at: 1))
            #expect(try await store.createUser(username: "ada", displayName: "Other", passwordHash: "x", role: .admin, at: 2) == nil)
            #expect(try await store.user(named: "ada") == ada)
            #expect(try await store.user(id: ada.id) == ada)
            #expect(try await store.user(named: "nobody") == nil)
        }
    }

    @Test func aTokenAuthenticatesItsDeviceUntilRevoked() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "bob", displayName: "Bob", passwordHash: "h", role: .learner, at: 1))
            let laptop = uuid(), desktop = uuid()
            let laptopToken = SHA256.hash(Array("laptop-secret".utf8)), desktopToken = SHA256.hash(Array("desktop-secret".utf8))
            _ = try await store.registerDevice(id: laptop, userID: user.id, name: "laptop", tokenHash: laptopToken, expiresAt: nil, at: 10)
            _ = try await store.registerDevice(id: desktop, userID: user.id, name: "desktop", tokenHash: desktopToken, expiresAt: 1_000, at: 11)
            // Found by the learner it names and the hash, or by the hash alone (a token of the older form).
            #expect(try await store.authenticate(tokenHash: laptopToken, userID: user.id, at: 20)?.1.id == laptop)
            #expect(try await store.authenticate(tokenHash: laptopToken, userID: nil, at: 20)?.1.id == laptop)
            #expect(try await store.authenticate(tokenHash: desktopToken, userID: user.id, at: 999)?.0 == user)
            #expect(try await store.authenticate(tokenHash: desktopToken, userID: user.id, at: 1_000) == nil)
            #expect(try await store.authenticate(tokenHash: SHA256.hash(Array("guess".utf8)), userID: nil, at: 20) == nil)
            #expect(try await store.devices(userID: user.id).map(\.name) == ["laptop", "desktop"])
            let other = try #require(try await store.createUser(username: "eve", displayName: "Eve", passwordHash: "h", role: .learner, at: 1))
            // A token names its own learner: under another's id it is nobody's, and another's logout does not touch it.
            #expect(try await store.authenticate(tokenHash: laptopToken, userID: other.id, at: 20) == nil)
            try await store.revokeToken(hash: laptopToken, userID: other.id, at: 21)
            #expect(try await store.authenticate(tokenHash: laptopToken, userID: user.id, at: 22) != nil)
            // A device id is one account's.
            await #expect(throws: RepositoryConflict.deviceOwnedByAnotherUser) {
                try await store.registerDevice(
                    id: laptop, userID: other.id, name: "mine", tokenHash: SHA256.hash(Array("e".utf8)), expiresAt: nil, at: 23)
            }
            #expect(try await store.devices(userID: other.id).isEmpty)
            #expect(try await store.revokeDevice(id: laptop, userID: user.id, at: 30))
            #expect(try await store.authenticate(tokenHash: laptopToken, userID: user.id, at: 31) == nil)
            #expect(try await store.revokeDevice(id: desktop, userID: other.id, at: 32) == false)
            try await store.recordSync(deviceID: desktop, userID: other.id, clockOffsetMs: 5, at: 39)
            #expect(try await store.devices(userID: user.id).last?.clockOffsetMs == nil)
            try await store.recordSync(deviceID: desktop, userID: user.id, clockOffsetMs: -86_400_000, at: 40)
            try await store.revokeToken(hash: desktopToken, userID: user.id, at: 41)
            #expect(try await store.authenticate(tokenHash: desktopToken, userID: user.id, at: 42) == nil)
            #expect(try await store.devices(userID: user.id).last?.clockOffsetMs == -86_400_000)
        }
    }
}

@Suite struct AttemptRepositoryTests {
    @Test func pushingTheSameAttemptsTwiceStoresThemOnce() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "cat", displayName: "Cat", passwordHash: "h", role: .learner, at: 1))
            let page = (0..<5).map { (attempt: attempt(at: 1_000 + Int64($0)), flags: AttemptFlags()) }
            #expect(try await store.insert(page, userID: user.id, receivedAt: 2_000) == (1...5).map { .inserted(seq: $0) })
            #expect(try await store.insert(page, userID: user.id, receivedAt: 3_000) == (1...5).map { .duplicate(seq: $0) })
            // An attempt re-sent with its UUIDs in capitals is the same attempt.
            let shouted = page[0].attempt
            let upper = Attempt(
                id: shouted.id.uppercased(), deviceID: shouted.deviceID.uppercased(), questionID: shouted.questionID,
                questionVersion: shouted.questionVersion, chosen: shouted.chosen, correct: shouted.correct, answeredAt: shouted.answeredAt,
                durationMs: shouted.durationMs, sessionID: shouted.sessionID.uppercased())
            #expect(try await store.insert([(upper, [])], userID: user.id, receivedAt: 3_000) == [.duplicate(seq: 1)])
            #expect(try await store.latestSequence(userID: user.id) == 5)
            let pulled = try await store.pull(userID: user.id, after: 0, limit: 100, excludingDevice: nil)
            #expect(pulled.attempts.map(\.attempt) == page.map(\.attempt))
            #expect(pulled.hasMore == false)
            // A page of two stored attempts and two new ones: progress and the question statistics count the new ones only.
            let mixed = Array(page.suffix(2)) + [(attempt(at: 1_010), AttemptFlags()), (attempt(at: 1_011), AttemptFlags.tooFast)]
            #expect(
                try await store.insert(mixed, userID: user.id, receivedAt: 4_000) == [
                    .duplicate(seq: 4), .duplicate(seq: 5), .inserted(seq: 6), .inserted(seq: 7),
                ])
            #expect(try await store.progress(userID: user.id).map(\.attempts).reduce(0, +) == 7)
            let counted = try await store.pool.query("SELECT sum(attempts)::bigint FROM learner_question_stats WHERE user_id = \(user.id)").scalar(
                Int64.self)
            #expect(counted == 6)  // the flagged one is not counted
        }
    }

    @Test func aPagesSessionsAreStoredWithItOnceAndKeepTheirFirstOwner() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let eve = try #require(try await store.createUser(username: "eve", displayName: "Eve", passwordHash: "h", role: .learner, at: 1))
            let fay = try #require(try await store.createUser(username: "fay", displayName: "Fay", passwordHash: "h", role: .learner, at: 1))
            let device = "00000000-0000-4000-8000-000000000001"
            let session = StudySession(id: "00000000-0000-4000-8000-00000000000a", deckId: "ml-deployment", startedAt: 900)
            let later = StudySession(id: uuid(), deckId: "ml-deployment", startedAt: 950)
            let page = (0..<3).map { attempt(at: 1_000 + Int64($0)) }
            let flags = [AttemptFlags](repeating: [], count: page.count)
            func stored() async throws -> [String] {
                try await store.pool.query(
                    "SELECT id::text || ' ' || user_id || ' ' || device_id::text || ' ' || deck_id || ' ' || started_at FROM study_sessions ORDER BY started_at"
                ).column(String.self)
            }
            #expect(
                try await store.insert(page, flags: flags, sessions: [session], deviceID: device, userID: eve.id, receivedAt: 2_000)
                    == (1...3).map { .inserted(seq: $0) })
            #expect(try await stored() == ["\(session.id) \(eve.id) \(device) ml-deployment 900"])
            // Sent again (an answer lost on the way): the same rows, once.
            #expect(
                try await store.insert(page, flags: flags, sessions: [session], deviceID: device, userID: eve.id, receivedAt: 3_000)
                    == (1...3).map { .duplicate(seq: $0) })
            // A session without attempts in the page, and another user's page naming Eve's session: hers stays hers.
            #expect(try await store.insert([], flags: [], sessions: [later], deviceID: device, userID: eve.id, receivedAt: 3_000) == [])
            _ = try await store.insert([attempt(at: 1_100)], flags: [[]], sessions: [session], deviceID: device, userID: fay.id, receivedAt: 4_000)
            #expect(
                try await stored() == ["\(session.id) \(eve.id) \(device) ml-deployment 900", "\(later.id) \(eve.id) \(device) ml-deployment 950"])
        }
    }

    @Test func aDifferentAttemptUnderAnExistingIdIsAConflictAndChangesNothing() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "dan", displayName: "Dan", passwordHash: "h", role: .learner, at: 1))
            let original = attempt(at: 5_000)
            _ = try await store.insert([(original, [])], userID: user.id, receivedAt: 6_000)
            let forged = attempt(correct: false, at: 5_000, id: original.id)
            let twin = attempt(at: 7_000)
            let inPageTwin = attempt(correct: false, at: 7_000, id: twin.id)
            #expect(
                try await store.insert([(forged, []), (twin, []), (inPageTwin, []), (twin, [])], userID: user.id, receivedAt: 8_000)
                    == [.conflict, .inserted(seq: 2), .conflict, .duplicate(seq: 2)])
            #expect(try await store.pull(userID: user.id, after: 0, limit: 10, excludingDevice: nil).attempts.map(\.attempt) == [original, twin])
        }
    }

    @Test func anotherUsersIdIsRejectedWithoutSayingWhose() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let a = try #require(try await store.createUser(username: "amy", displayName: "Amy", passwordHash: "h", role: .learner, at: 1))
            let b = try #require(try await store.createUser(username: "ben", displayName: "Ben", passwordHash: "h", role: .learner, at: 1))
            let mine = attempt(at: 1)
            _ = try await store.insert([(mine, [])], userID: a.id, receivedAt: 2)
            let outcome = try await store.insert([(mine, []), (attempt(at: 3, id: "not-a-uuid"), [])], userID: b.id, receivedAt: 4)
            guard case .rejected(let reason) = outcome[0] else { Issue.record("expected a rejection, got \(outcome[0])"); return }
            #expect(!reason.contains("amy") && !reason.contains(String(a.id)))
            #expect(outcome[1] == .rejected(reason: "id must be a UUID"))
            #expect(try await store.latestSequence(userID: b.id) == 0)
        }
    }

    @Test func pullingPagesFollowsTheCursorAndSaysWhetherMoreRemain() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "eva", displayName: "Eva", passwordHash: "h", role: .learner, at: 1))
            _ = try await store.insert((0..<25).map { (attempt(at: Int64($0)), []) }, userID: user.id, receivedAt: 100)
            var cursor: Int64 = 0
            var pages: [[Int64]] = []
            while true {
                let page = try await store.pull(userID: user.id, after: cursor, limit: 10, excludingDevice: nil)
                pages.append(page.attempts.map(\.seq))
                cursor = page.cursor
                if !page.hasMore { break }
            }
            #expect(pages == [Array(1...10), Array(11...20), Array(21...25)])
            #expect(cursor == 25)
        }
    }

    @Test func aDevicesOwnAttemptsAreLeftOutOfItsPullButTheCursorPassesThem() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "ida", displayName: "Ida", passwordHash: "h", role: .learner, at: 1))
            let laptop = uuid(), desktop = uuid()
            let mixed = [
                attempt(at: 1, device: laptop), attempt(at: 2, device: desktop), attempt(at: 3, device: laptop), attempt(at: 4, device: laptop),
            ]
            _ = try await store.insert(mixed.map { ($0, []) }, userID: user.id, receivedAt: 5)
            let forLaptop = try await store.pull(userID: user.id, after: 0, limit: 10, excludingDevice: laptop)
            #expect(forLaptop.attempts.map(\.seq) == [2])
            #expect(forLaptop.cursor == 4 && !forLaptop.hasMore)
            let firstPage = try await store.pull(userID: user.id, after: 0, limit: 1, excludingDevice: desktop)
            #expect(firstPage.attempts.map(\.seq) == [1] && firstPage.cursor == 1 && firstPage.hasMore)
        }
    }

    /// A page is read range by range of sequence numbers; when the puller's own attempts leave a range short, the next
    /// range fills the page, and the cursor passes the own attempts without ever skipping another device's.
    @Test func aPageLongerThanTheRangesOfOwnAttemptsBeforeItIsFilledFromTheRangesAfter() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "una", displayName: "Una", passwordHash: "h", role: .learner, at: 1))
            let laptop = uuid(), desktop = uuid()
            let attempts = (1...30).map { attempt(at: Int64($0), device: $0 <= 20 || $0 == 27 ? laptop : desktop) }
            _ = try await store.insert(attempts.map { ($0, []) }, userID: user.id, receivedAt: 40)
            let first = try await store.pull(userID: user.id, after: 0, limit: 5, excludingDevice: laptop)
            #expect(first.attempts.map(\.seq) == [21, 22, 23, 24, 25] && first.cursor == 25 && first.hasMore)
            let second = try await store.pull(userID: user.id, after: first.cursor, limit: 5, excludingDevice: laptop)
            #expect(second.attempts.map(\.seq) == [26, 28, 29, 30] && second.cursor == 30 && !second.hasMore)
            let own = try await store.pull(userID: user.id, after: 0, limit: 5, excludingDevice: desktop)
            #expect(own.attempts.map(\.seq) == [1, 2, 3, 4, 5] && own.cursor == 5 && own.hasMore)
            let allOwn = try await store.pull(userID: user.id, after: 25, limit: 3, excludingDevice: desktop)
            #expect(allOwn.attempts.map(\.seq) == [27] && allOwn.cursor == 30 && !allOwn.hasMore)
        }
    }

    /// Invariant 4: 8 writers push 10,000 attempts for one user while a reader polls the cursor; every sequence number
    /// exists once, and the reader never sees N+1 before N. Run ten times, one after another (each in its own database).
    @Test(.serialized, arguments: 1...10)
    func theCursorIsGapFreeUnderConcurrentPushes(run: Int) async throws {
        let store = try await migratedStore(poolSize: 9)
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "writer\(run)", displayName: "U", passwordHash: "h", role: .learner, at: 1))
            let writers = 8, perWriter = 1_250, pageSize = 50
            let total = writers * perWriter
            async let reader: [Int64] = {
                var seen: [Int64] = []
                var cursor: Int64 = 0
                while seen.count < total {
                    let page = try await store.pull(userID: user.id, after: cursor, limit: 500, excludingDevice: nil)
                    for stored in page.attempts {
                        // The next one the reader sees must be exactly the one after its cursor.
                        guard stored.seq == cursor + 1 else { throw GapError(expected: cursor + 1, saw: stored.seq) }
                        cursor = stored.seq
                        seen.append(stored.seq)
                    }
                    if page.attempts.isEmpty { try await Task.sleep(for: .milliseconds(2)) }
                }
                return seen
            }()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<writers {
                    group.addTask {
                        for p in 0..<(perWriter / pageSize) {
                            // Each writer answers its own questions, in time order: every page extends the progress fold
                            // (interleaved old answers on shared questions would refold them all, which is not what this tests).
                            let page = (0..<pageSize).map { i in
                                (attempt(question: "w\(w)q\(i % 7)", at: Int64(w * 1_000_000 + p * pageSize + i)), AttemptFlags())
                            }
                            let outcomes = try await store.insert(page, userID: user.id, receivedAt: 1)
                            guard outcomes.allSatisfy({ if case .inserted = $0 { true } else { false } }) else {
                                throw GapError(expected: -1, saw: -1)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seen = try await reader
            #expect(seen == Array(1...Int64(total)))
            #expect(
                try await store.pool.query("SELECT count(DISTINCT seq), min(seq), max(seq) FROM attempts WHERE user_id = \(user.id)")[0].decode(
                    Int.self, at: 0) == total)
            #expect(try await store.latestSequence(userID: user.id) == Int64(total))
        }
    }

    struct GapError: Error { let expected: Int64; let saw: Int64 }
}

@Suite struct ProgressRepositoryTests {
    @Test func storedProgressIsTheFoldOfTheAttempts() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "fay", displayName: "Fay", passwordHash: "h", role: .learner, at: 1))
            let day: Int64 = 86_400_000
            let attempts = [
                attempt(question: "a", correct: true, at: 0), attempt(question: "a", correct: true, at: 600_000),
                attempt(question: "a", correct: true, at: 3 * day),
                attempt(question: "b", correct: false, at: 5), attempt(question: "a", correct: false, at: 30 * day),
            ]
            // Pushed out of order: the fold orders by (answeredAt, id).
            _ = try await store.insert(attempts.reversed().map { ($0, []) }, userID: user.id, receivedAt: 1)
            try await store.refreshProgress(userID: user.id, questionIDs: ["a", "b"], at: 99)
            let stored = try await store.progress(userID: user.id)
            let expected = Progress.foldAll(attempts)
            #expect(stored.count == 2)
            for progress in stored {
                let fold = try #require(expected[progress.questionID])
                #expect(progress.card == fold.card)
                #expect(
                    progress.attempts == fold.attempts && progress.correctAttempts == fold.correctAttempts && progress.lastCorrect == fold.lastCorrect
                )
            }
            // Refreshing again is idempotent.
            try await store.refreshProgress(userID: user.id, questionIDs: ["a"], at: 100)
            #expect(try await store.progress(userID: user.id).map(\.card) == stored.map(\.card))
        }
    }

    @Test func recordingProgressPageByPageEqualsTheFullFoldEvenForLateOfflineAttempts() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "hal", displayName: "Hal", passwordHash: "h", role: .learner, at: 1))
            let minute: Int64 = 60_000
            let first = (0..<6).map { attempt(question: "q\($0 % 2)", correct: $0 % 3 != 0, at: Int64($0) * 30 * minute) }
            let later = (6..<10).map { attempt(question: "q\($0 % 2)", correct: true, at: Int64($0) * 30 * minute) }
            // An offline device syncs late: its attempts sort before the ones already folded.
            let lateOffline = [attempt(question: "q0", correct: false, at: 45 * minute)]
            var everything: [Attempt] = []
            for page in [first, later, lateOffline] {
                _ = try await store.insert(page.map { ($0, []) }, userID: user.id, receivedAt: 1)
                try await store.recordProgress(userID: user.id, newAttempts: page, at: 2)
                everything += page
                let stored = try await store.progress(userID: user.id)
                let expected = Progress.foldAll(everything)
                #expect(stored.count == expected.count)
                for p in stored { #expect(p == expected[p.questionID]) }
            }
        }
    }

    /// The user's mastered count follows the progress rows page by page: up when a question becomes mastered (on the
    /// first page and on a later one), down when a lapse takes it back, untouched by pages that change no question's
    /// mastery.
    @Test func theMasteredCountFollowsEachPage() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "moe", displayName: "Moe", passwordHash: "h", role: .learner, at: 1))
            let day: Int64 = 86_400_000, t: Int64 = 1_768_014_000_000
            // Right answers a month apart: mastered by the last of them (checked on the fold itself, so the test means something).
            func spaced(_ question: String, from start: Int64, count: Int) -> [Attempt] {
                (0..<count).map { attempt(question: question, correct: true, at: start + Int64($0) * 30 * day) }
            }
            let a = spaced("a", from: t, count: 12), b = spaced("b", from: t, count: 12)
            let k = try #require((1...12).first { Progress.fold(questionID: "a", attempts: a.prefix($0)).isMastered })
            #expect(k >= 2)
            func masteredCount() async throws -> Int64? {
                try await store.pool.query("SELECT mastered_count FROM learner_counters WHERE user_id = \(user.id)").scalar(Int64.self)
            }
            _ = try await store.insert((a.prefix(k) + b.prefix(k - 1)).map { ($0, []) }, userID: user.id, receivedAt: 1)  // the first page
            #expect(try await masteredCount() == 1)
            // No change of mastery:
            _ = try await store.insert([(attempt(question: "c", correct: true, at: t + 1), [])], userID: user.id, receivedAt: 2)
            #expect(try await masteredCount() == 1)
            _ = try await store.insert([(b[k - 1], [])], userID: user.id, receivedAt: 3)
            #expect(try await masteredCount() == 2)
            _ = try await store.insert([(attempt(question: "a", correct: false, at: t + 1_000 * day), [])], userID: user.id, receivedAt: 4)
            #expect(try await masteredCount() == 1)
            let counted = try await store.pool.query("SELECT count(*) FROM progress WHERE user_id = \(user.id) AND mastered").scalar(Int64.self)
            #expect(counted == 1)
        }
    }

    @Test func dailyAggregatesCountOnePointPerQuestionPerDayInTheTeamsTimeZone() async throws {
        let store = try await migratedStore()
        try await withPool(store.pool) { _ async throws in
            let user = try #require(try await store.createUser(username: "gus", displayName: "Gus", passwordHash: "h", role: .learner, at: 1))
            let team = try await store.pool.query(
                "INSERT INTO teams (name, time_zone, created_by, created_at) VALUES ('t', 'America/New_York', \(user.id), 1) RETURNING id"
            ).scalar(Int64.self)!
            try await store.pool.query("INSERT INTO memberships (team_id, user_id, role, joined_at) VALUES (\(team), \(user.id), 'member', 1)")
            // 2026-01-10 03:00 UTC is 2026-01-09 22:00 in New York.
            let t: Int64 = 1_768_014_000_000
            _ = try await store.insert(
                [
                    (attempt(question: "a", correct: true, at: t), []), (attempt(question: "a", correct: true, at: t + 1), []),
                    (attempt(question: "b", correct: false, at: t + 2), []),
                ], userID: user.id, receivedAt: 1)
            // The board reads what the fold will add: all time, that day, and its streak, the same before the fold and after.
            @Sendable func board() async throws -> [String] {
                var rows: [String] = []
                for window in ["NULL::date, NULL::date", "'2026-01-09'::date, '2026-01-10'::date", "'2026-01-01'::date, '2026-02-01'::date"] {
                    rows += try await store.pool.query(
                        PostgresQuery(
                            unsafeSQL:
                                "SELECT concat_ws('|', points, attempts, correct, streak) FROM team_leaderboard(\(team), \(window), '2026-01-10', \(user.id), true, 10)"
                        )
                    ).column(String.self)
                }
                return rows
            }
            // A member's answers reach the boards in the background fold (SQL/029), here after each page. Before it, a
            // day not on the board yet (its streak counted from the pending days).
            let first = try await board()
            #expect(first == ["1|3|2|1", "1|3|2|1", "1|3|2|1"])
            while try await store.foldQuestionSums(moves: 100, learners: 10) != (0, 0) {}
            #expect(try await board() == first)
            // A later page: another right answer to "a" the same day adds no point; "b" right now earns one; a flagged one counts nothing.
            _ = try await store.insert(
                [
                    (attempt(question: "a", correct: true, at: t + 3), []), (attempt(question: "b", correct: true, at: t + 4), []),
                    (attempt(question: "c", correct: true, at: t + 5), [.tooFast]),
                ], userID: user.id, receivedAt: 2)
            #expect(
                try await store.pool.query("SELECT count(*) FROM daily_activity WHERE user_id = \(user.id) AND attempts = 5").scalar(Int.self) == 0)
            let pending = try await board()
            #expect(pending == ["2|5|4|1", "2|5|4|1", "2|5|4|1"])
            while try await store.foldQuestionSums(moves: 100, learners: 10) != (0, 0) {}
            #expect(try await board() == pending)
            let row = try await store.pool.query(
                "SELECT day::text, attempts, correct_attempts, points FROM daily_activity WHERE user_id = \(user.id)")
            try #require(row.count == 1)
            #expect(try row[0].decode(String.self, at: 0) == "2026-01-09")
            #expect(try row[0].decode(Int.self, at: 1) == 5)
            #expect(try row[0].decode(Int.self, at: 2) == 4)
            #expect(try row[0].decode(Int.self, at: 3) == 2)
            // The next day, pending: the streak grows to two days before the fold, as after it.
            _ = try await store.insert([(attempt(question: "a", correct: true, at: t + 86_400_000), [])], userID: user.id, receivedAt: 3)
            let next = try await board()
            #expect(next == ["3|6|5|2", "2|5|4|2", "3|6|5|2"])
            while try await store.foldQuestionSums(moves: 100, learners: 10) != (0, 0) {}
            #expect(try await board() == next)
        }
    }
}
