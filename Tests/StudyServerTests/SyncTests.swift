import Foundation
import Hummingbird
import HummingbirdTesting
import PropertyBased
import StudyAPI
import StudyClient
import StudyCore
import StudyServer
import Testing

/// A learner's device for in-process tests: a real local store in its own directory, logged in to the real app.
struct Device {
    let directory: TemporaryDirectory
    let token: String
    /// Syncs as `study` does with a server that reads the column form and zstd (else as the plainest client).
    var compact = false

    func store() throws -> LocalStore { try LocalStore(directory: directory.url) }

    /// Answers `count` questions of the bundled deck offline, right or wrong by `rng`, stamped from `start`.
    func study(_ count: Int, from start: Int64, using rng: inout SeededGenerator) throws {
        let store = try store()
        let deck = try store.requireDeck("ml-deployment")
        let session = try store.startSession(deckID: deck.id, at: start)
        var clock = try store.hybridClock()
        for i in 0..<count {
            let question = deck.questions[Int.random(in: 0..<deck.questions.count, using: &rng)]
            let right = Bool.random(using: &rng)
            let chosen = right ? question.correct : [question.options.indices.first { !question.correct.contains($0) }!]
            let answeredAt = clock.stamp(wallClock: start + Int64(i) * 20_000)
            try store.record(
                Attempt(
                    id: compact ? try store.newAttemptID(answeredAt: answeredAt) : UUID().uuidString.lowercased(), deviceID: store.deviceID,
                    questionID: question.id, questionVersion: question.version, chosen: chosen, correct: question.grade(chosen),
                    answeredAt: answeredAt, durationMs: 5_000,
                    sessionID: session))
        }
    }

    func sync(_ client: any TestClientProtocol, clock: @escaping () -> Int64 = { Clock.nowMs() }, pageSize: Int = 2_000) async throws
        -> SyncEngine.Summary
    {
        try await SyncEngine(
            store: store(), transport: RouterTransport(client: client, token: token, compact: compact), pageSize: pageSize, clock: clock
        ).run()
    }

    static func login(_ client: any TestClientProtocol, as username: String, compact: Bool = false) async throws -> Device {
        let directory = TemporaryDirectory()
        let store = try LocalStore(directory: directory.url)
        return Device(directory: directory, token: try await client.account(username, deviceID: store.deviceID), compact: compact)
    }

    init(directory: TemporaryDirectory, token: String, compact: Bool = false) {
        self.directory = directory
        self.token = token
        self.compact = compact
    }
}

/// Every device holds the same attempts and the same progress, and so does the server.
func expectConverged(_ devices: [Device], _ client: any TestClientProtocol, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let stores = try devices.map { try $0.store() }
    let attempts = try stores.map { try Set($0.attempts()) }
    for other in attempts.dropFirst() { #expect(other == attempts[0], "attempt sets differ", sourceLocation: sourceLocation) }
    let progress = try stores.map { try $0.progress() }
    for other in progress.dropFirst() { #expect(other == progress[0], "progress differs", sourceLocation: sourceLocation) }
    let server = try await client.decoded(ServerProgress.self, .get, "/v1/progress", token: devices[0].token, [String: String]()).progress
    #expect(
        Dictionary(uniqueKeysWithValues: server.map { ($0.questionID, $0.card) }) == progress[0].mapValues(\.card), "server progress differs",
        sourceLocation: sourceLocation)
    #expect(server.reduce(0) { $0 + $1.attempts } == attempts[0].count, sourceLocation: sourceLocation)
}

struct ServerProgress: Decodable { let progress: [QuestionProgress] }

let hour: Int64 = 3_600_000

@Suite(.serialized) struct SyncTests {
    @Test func pushingTheSamePageTwiceStoresItOnce() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let device = try await Device.login(client, as: "pat")
            var rng = SeededGenerator(seed: 1)
            try device.study(5, from: Clock.nowMs() - hour, using: &rng)
            let page = try device.store().pendingAttempts(limit: 100)
            let request = SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: page)
            let first = try await client.decoded(SyncResponse.self, .post, "/v1/sync", token: device.token, request)
            let second = try await client.decoded(SyncResponse.self, .post, "/v1/sync", token: device.token, request)
            #expect(first.results.map(\.status) == Array(repeating: .inserted, count: 5))
            #expect(second.results.map(\.status) == Array(repeating: .duplicate, count: 5))
            #expect(second.results.map(\.seq) == first.results.map(\.seq))
            #expect(first.attempts.isEmpty && first.cursor == 5)
        }
    }

    @Test func aSyncOfUnderTwoFirstPagesIsOneRequest() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let laptop = try await Device.login(client, as: "quin")
            let desktop = try await Device.login(client, as: "quin")
            var rng = SeededGenerator(seed: 7)
            // 20 s apart: 1,000 attempts take five and a half hours; each batch starts after the one before ends, all in
            // the past.
            try desktop.study(3, from: Clock.nowMs() - 40 * hour, using: &rng)
            _ = try await desktop.sync(client)
            // The first page holds 1,000 attempts: these are all the laptop has, so it pushes them and pulls the
            // desktop's in one round trip.
            try laptop.study(1_000, from: Clock.nowMs() - 36 * hour, using: &rng)
            let summary = try await laptop.sync(client)
            #expect(summary.requests == 1 && summary.pushed == 1_000 && summary.pulled == 3)
            _ = try await desktop.sync(client)
            try await expectConverged([laptop, desktop], client)
            // One more than the first page: still one page (a second page of one attempt could overtake the first).
            try laptop.study(1_001, from: Clock.nowMs() - 30 * hour, using: &rng)
            let more = try await laptop.sync(client)
            #expect(more.requests == 1 && more.pushed == 1_001)
            // Twice the first page: two pushes of 1,000, the first of which also pulls; nothing is left to pull after.
            try laptop.study(2_000, from: Clock.nowMs() - 24 * hour, using: &rng)
            let twice = try await laptop.sync(client)
            #expect(twice.requests == 2 && twice.pushed == 2_000)
            _ = try await desktop.sync(client)
            try await expectConverged([laptop, desktop], client)
            // More to pull than the first push's pull takes: the pull goes on after the pushes, past the laptop's own.
            try desktop.study(1_500, from: Clock.nowMs() - 18 * hour, using: &rng)
            _ = try await desktop.sync(client)
            try laptop.study(2_000, from: Clock.nowMs() - 12 * hour, using: &rng)
            let both = try await laptop.sync(client)
            #expect(both.requests == 3 && both.pushed == 2_000 && both.pulled == 1_500)
            _ = try await desktop.sync(client)
            try await expectConverged([laptop, desktop], client)
        }
    }

    @Test func aPullStartsPastTheRequestsOwnAttemptsOnlyWhenTheyFollowTheCursor() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let laptop = try await Device.login(client, as: "uma")
            let desktop = try await Device.login(client, as: "uma")
            var rng = SeededGenerator(seed: 11)
            func push(_ device: Device, _ count: Int, from time: Int64, cursor: Int64, pullLimit: Int) async throws -> SyncResponse {
                let before = try device.store().pendingCount()
                try device.study(count, from: time, using: &rng)
                let page = try device.store().pendingAttempts(limit: 1_000).suffix(try device.store().pendingCount() - before)
                let request = SyncRequest(clientTime: Clock.nowMs(), cursor: cursor, attempts: Array(page), pullLimit: pullLimit)
                return try await client.decoded(SyncResponse.self, .post, "/v1/sync", token: device.token, request)
            }
            // Numbers 1-5, right after the cursor: a push-only answer's cursor passes them.
            let first = try await push(laptop, 5, from: Clock.nowMs() - 10 * hour, cursor: 0, pullLimit: 0)
            #expect(first.results.map(\.seq) == [1, 2, 3, 4, 5] && first.cursor == 5)
            // The desktop's 6-7, then the laptop's 8-10: not right after the laptop's cursor, which stays.
            _ = try await push(desktop, 2, from: Clock.nowMs() - 8 * hour, cursor: 0, pullLimit: 0)
            let second = try await push(laptop, 3, from: Clock.nowMs() - 6 * hour, cursor: 5, pullLimit: 0)
            #expect(second.results.map(\.seq) == [8, 9, 10] && second.cursor == 5)
            // Pulling from there brings the desktop's two, and the cursor passes the laptop's own.
            let third = try await push(laptop, 1, from: Clock.nowMs() - 4 * hour, cursor: 5, pullLimit: 100)
            #expect(third.results.map(\.seq) == [11] && third.attempts.map(\.seq) == [6, 7] && third.cursor == 11 && !third.hasMore)
        }
    }

    @Test func theAnswerThatEndsASyncListsTheTeamsDecksWhenAsked() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let admin = try await client.account("root")
            let team = try await client.json(.post, "/v1/teams", token: admin, ["name": "Decks"])
            let id = try #require(team.body["id"] as? Int)
            let code = try #require(try await client.json(.post, "/v1/teams/\(id)/invites", token: admin).body["code"] as? String)
            let laptop = try await Device.login(client, as: "rae")
            let desktop = try await Device.login(client, as: "rae")
            #expect(try await client.json(.post, "/v1/teams/join", token: laptop.token, ["code": code]).status == .ok)
            let listed = try await client.decoded(DeckList.self, .get, "/v1/decks", token: laptop.token, [String: String]()).decks
            #expect(listed.count == 1)
            var rng = SeededGenerator(seed: 3)
            try desktop.study(3, from: Clock.nowMs() - hour, using: &rng)
            _ = try await desktop.sync(client)
            func sync(after cursor: Int64, limit: Int, listDecks: Bool) async throws -> SyncResponse {
                try await client.decoded(
                    SyncResponse.self, .post, "/v1/sync", token: laptop.token,
                    SyncRequest(clientTime: Clock.nowMs(), cursor: cursor, attempts: [], pullLimit: limit, listDecks: listDecks))
            }
            // More to pull: no list yet. The answer that ends the sync: the list GET /v1/decks gives. Not asked: none.
            let first = try await sync(after: 0, limit: 2, listDecks: true)
            #expect(first.hasMore && first.publishedDecks == nil)
            let last = try await sync(after: first.cursor, limit: 10, listDecks: true)
            #expect(!last.hasMore && last.attempts.count == 1 && last.publishedDecks == listed)
            #expect(try await sync(after: last.cursor, limit: 10, listDecks: false).publishedDecks == nil)
            // A learner in no team is told so: an empty list, not none.
            let loner = try await client.account("sol")
            #expect(
                try await client.decoded(
                    SyncResponse.self, .post, "/v1/sync", token: loner,
                    SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: [], listDecks: true)
                ).publishedDecks == [])
        }
    }

    @Test func twoDevicesStudyingOfflineConvergeInEitherOrder() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            for (run, order) in [[0, 1], [1, 0]].enumerated() {
                let devices = [try await Device.login(client, as: "two\(run)"), try await Device.login(client, as: "two\(run)")]
                var rng = SeededGenerator(seed: UInt64(run))
                try devices[0].study(12, from: Clock.nowMs() - 5 * hour, using: &rng)
                try devices[1].study(9, from: Clock.nowMs() - 5 * hour + 30_000, using: &rng)
                for i in order { _ = try await devices[i].sync(client) }
                _ = try await devices[order[0]].sync(client)
                try await expectConverged(devices, client)
            }
        }
    }

    @Test func threeDevicesConvergeWhateverTheOrderOfSyncs() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
            for (run, order) in orders.enumerated() {
                let devices = [
                    try await Device.login(client, as: "tri\(run)"), try await Device.login(client, as: "tri\(run)"),
                    try await Device.login(client, as: "tri\(run)"),
                ]
                var rng = SeededGenerator(seed: UInt64(100 + run))
                for (i, device) in devices.enumerated() { try device.study(6 + i, from: Clock.nowMs() - 3 * hour + Int64(i) * 7_000, using: &rng) }
                for i in order { _ = try await devices[i].sync(client) }
                for i in order.dropLast() { _ = try await devices[i].sync(client) }
                try await expectConverged(devices, client)
            }
        }
    }

    @Test func aDeviceWhoseClockIsADayOffStillSyncsIsWarnedAndCannotReorderTheOthers() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let day: Int64 = 24 * hour
            let (good, skewed) = (try await Device.login(client, as: "clocks"), try await Device.login(client, as: "clocks"))
            var rng = SeededGenerator(seed: 7)
            try good.study(8, from: Clock.nowMs() - hour, using: &rng)
            _ = try await good.sync(client)
            let before = try good.store().attempts()
            // This machine believes it is a day earlier than it is.
            try skewed.study(6, from: Clock.nowMs() - day, using: &rng)
            let summary = try await skewed.sync(client, clock: { Clock.nowMs() - day })
            #expect(summary.pushed == 6)
            #expect(summary.clockWarning?.contains("behind") == true)
            #expect(try skewed.store().clockOffsetMs > day - hour)
            _ = try await good.sync(client)
            // The good device's own attempts are untouched and keep their order.
            let after = try good.store().attempts().filter { $0.deviceID == before.first?.deviceID }
            #expect(after == before)
            try await expectConverged([good, skewed], client)
            // The skewed device's stamps are kept but flagged, so they stay off leaderboards.
            let flagged = try await client.decoded(
                SyncResponse.self, .post, "/v1/sync", token: good.token, SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: []))
            #expect(flagged.attempts.count == 6 && flagged.attempts.allSatisfy { AttemptFlags(rawValue: $0.flags).contains(.clockSkew) })
        }
    }

    @Test func fourDevicesSyncingAtTheSameMomentAllSucceed() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            var devices: [Device] = []
            for i in 0..<4 {
                let device = try await Device.login(client, as: "quad")
                var rng = SeededGenerator(seed: UInt64(i))
                try device.study(300, from: Clock.nowMs() - 10 * hour + Int64(i) * 1_000, using: &rng)
                devices.append(device)
            }
            let summaries = try await withThrowingTaskGroup(of: SyncEngine.Summary.self) { group in
                for device in devices { group.addTask { try await device.sync(client, pageSize: 50) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(summaries.map(\.pushed) == [300, 300, 300, 300])
            for device in devices { _ = try await device.sync(client) }
            try await expectConverged(devices, client)
            #expect(try devices[0].store().attempts().count == 1_200)
        }
    }

    @Test func aSyncWhoseResponseIsLostIsResumedByTheNextAndConverges() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let (a, b) = (try await Device.login(client, as: "lossy"), try await Device.login(client, as: "lossy"))
            var rng = SeededGenerator(seed: 3)
            try a.study(40, from: Clock.nowMs() - 2 * hour, using: &rng)
            try b.study(25, from: Clock.nowMs() - 2 * hour, using: &rng)
            _ = try await b.sync(client)
            // The server commits a's second page, then the connection drops before a hears the answer. The page is named
            // by its first attempt: the two pages in flight are sent from two tasks, in either order.
            let secondPage = try a.store().pendingAttempts(limit: 20)[10].id
            let lossy = DroppingTransport(inner: RouterTransport(client: client, token: a.token)) { $0.attempts.first?.id == secondPage }
            await #expect(throws: DroppingTransport.Dropped.self) {
                _ = try await SyncEngine(store: a.store(), transport: lossy, pageSize: 10).run()
            }
            // Only the first page's answer was applied; the second's is lost, and the third (sent while the second was
            // with the server) may or may not have been stored before the sync stopped.
            #expect(try a.store().pendingCount() == 30)
            let retry = try await a.sync(client, pageSize: 10)
            #expect(retry.pushed + retry.duplicates == 30 && (10...20).contains(retry.duplicates))
            _ = try await b.sync(client)
            try await expectConverged([a, b], client)
        }
    }

    @Test func anOversizedBodyIsRefusedWithTheLimit() async throws {
        var configuration = try await testConfiguration()
        configuration.maxBodyBytes = 64 * 1024
        let app = try await buildApplication(configuration)
        try await app.test(.router) { client in
            let device = try await Device.login(client, as: "big")
            var rng = SeededGenerator(seed: 5)
            try device.study(600, from: Clock.nowMs() - 20 * hour, using: &rng)
            let request = SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: try device.store().pendingAttempts(limit: 600))
            let response = try await client.json(.post, "/v1/sync", token: device.token, request)
            #expect(response.status == .contentTooLarge)
            #expect((response.body["message"] as? String)?.contains("GET /v1/meta") == true)
        }
    }

    /// Convergence over random interleavings of studying and syncing on 2 to 4 devices, in-process against the real
    /// repository: after everyone syncs twice at the end, all hold the same attempts and progress as the server.
    @Test func randomInterleavingsOfStudyAndSyncConverge() async throws {
        let app = try await buildApplication(try await testConfiguration())
        let runs = Counter()
        try await app.test(.router) { client in
            await propertyCheck(count: 12, input: Gen.int(in: 2...4), Gen.int(in: 0...1_000_000).array(of: 1...14)) { deviceCount, script in
                do {
                    let username = "prop\(runs.next())"
                    var devices: [Device] = []
                    // Half the devices sync as `study` does (columns, zstd), half as the plainest client: they must agree.
                    for i in 0..<deviceCount { devices.append(try await Device.login(client, as: username, compact: i % 2 == 1)) }
                    var rng = SeededGenerator(seed: UInt64(script.first ?? 0))
                    var time = Clock.nowMs() - 30 * hour
                    for step in script {
                        let device = devices[step % deviceCount]
                        time += Int64(step % 7_200_000)
                        if (step / deviceCount) % 2 == 0 {
                            try device.study(1 + step % 9, from: time, using: &rng)
                        } else {
                            _ = try await device.sync(client, pageSize: 1 + step % 5)
                        }
                    }
                    for _ in 0..<2 { for device in devices { _ = try await device.sync(client) } }
                    try await expectConverged(devices, client)
                } catch {
                    Issue.record(error)
                }
            }
        }
    }
}

/// Passes requests to the server but loses the answer of the `dropAfterServerCall`-th, after the server committed it.
/// Passes requests to the server, and loses the answer to the one `drops` picks: the server has stored it, the client
/// never hears so.
final class DroppingTransport: SyncTransport, Sendable {
    struct Dropped: Error {}
    let inner: any SyncTransport
    let drops: @Sendable (SyncRequest) -> Bool

    init(inner: any SyncTransport, drops: @escaping @Sendable (SyncRequest) -> Bool) {
        self.inner = inner
        self.drops = drops
    }

    func sync(_ request: SyncRequest) async throws -> SyncResponse {
        let response = try await inner.sync(request)
        if drops(request) { throw Dropped() }
        return response
    }
}

final class Counter: @unchecked Sendable {
    // Guarded by `lock`.
    private var value = 0
    private let lock = NSLock()
    func next() -> Int {
        lock.withLock {
            value += 1; return value
        }
    }
}
