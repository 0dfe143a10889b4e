import Foundation
import StudyAPI
import StudyClient
import StudyCore
import Testing

/// A new `study` and a server of an earlier version (one whose `GET /v1/meta` lists neither page forms nor encodings,
/// and whose answers are plain objects): the requests keep the forms that server reads, and its answers are read.
/// (The reverse, an old client against this server, is `RouterTransport` without `compact` in the server tests.)
struct NegotiationTests {
    static let device = "0f6c2b1e-8d4a-4c3b-9a7e-5b2d1c0e9f8a"

    @Test func aNewStudyTalksToAnOlderServerInItsForms() async throws {
        let pulled =
            #"{"seq":51,"attempt":{"id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","deviceId":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c","questionId":"q1","questionVersion":"v1","chosen":[1],"correct":true,"answeredAt":1780000000000,"durationMs":5000,"sessionId":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"},"flags":0}"#
        let server = try StallingServer(
            stall: nil,
            answer:
                #"{"resultRuns":[{"count":50,"status":"inserted","seq":1}],"attempts":[\#(pulled)],"cursor":51,"hasMore":false,"serverTime":1780000000000,"clockOffsetMs":0}"#,
            answers: 1)
        let older = MetaResponse(
            protocolVersion: 1, serverTime: 1, maxPushPage: 5_000, maxPullPage: 5_000, maxBodyBytes: 16 << 20, clockToleranceMs: 300_000)
        let features = ServerAPI.Features(meta: older)
        #expect(features == ServerAPI.Features())
        let api = try ServerAPI(server: "http://127.0.0.1:\(server.port)", token: "t").using(features)
        let attempts = (0..<50).map { i in
            let at = 1_780_000_000_000 + Int64(i) * 4_000
            return Attempt(
                id: UUIDv7.make(milliseconds: at, counter: i, device: Self.device)!, deviceID: Self.device, questionID: "q1", questionVersion: "v1",
                chosen: [1], correct: true, answeredAt: at, durationMs: 5_000, sessionID: Self.device)
        }
        let response = try await api.sync(SyncRequest(clientTime: 1_780_000_000_000, cursor: 0, attempts: attempts))
        #expect(response.results.count == 50 && response.results.allSatisfy { $0.status == .inserted })
        #expect(response.attempts.map(\.seq) == [51])

        // Plain JSON (not compressed), the page as rows, nothing the older server would not read.
        let body = try #require(server.bodies.first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(object["attemptRows"] != nil && object["attemptColumns"] == nil && object["pullColumns"] == nil && object["listDecks"] == nil)
    }

    /// A server whose meta lists `publishedDecks` in `syncLists` is asked for them in each request that may end the
    /// sync (one that pulls), not in a push of a page among several; the list it answers is read.
    @Test func aServerThatListsDecksInTheSyncIsAskedInTheRequestsThatPull() async throws {
        let server = try StallingServer(
            stall: nil,
            answer:
                #"{"results":[],"attempts":[],"cursor":0,"hasMore":false,"serverTime":1780000000000,"clockOffsetMs":0,"publishedDecks":[{"teamId":3,"deckId":"d1","name":"Capitals","publishedAt":1779990000000}]}"#,
            answers: 2)
        let api = try ServerAPI(server: "http://127.0.0.1:\(server.port)", token: "t").using(ServerAPI.Features(decksInSync: true))
        let pulled = try await api.sync(SyncRequest(clientTime: 1_780_000_000_000, cursor: 0, attempts: []))
        #expect(pulled.publishedDecks == [PublishedDeck(teamID: 3, deckID: "d1", name: "Capitals", publishedAt: 1_779_990_000_000)])
        _ = try await api.sync(SyncRequest(clientTime: 1_780_000_000_000, cursor: 0, attempts: [], pullLimit: 0))
        let asked = try server.bodies.map { body in
            try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])["listDecks"] as? Bool
        }
        #expect(asked == [true, nil])
    }

    @Test func aServerThatListsTheFormsAndZstdGetsThem() throws {
        let current = MetaResponse(
            protocolVersion: 1, serverTime: 1, maxPushPage: 5_000, maxPullPage: 10_000, maxBodyBytes: 16 << 20, clockToleranceMs: 300_000,
            contentEncodings: ["zstd"], pageForms: MetaResponse.allPageForms)
        #expect(ServerAPI.Features(meta: current) == ServerAPI.Features(compressedRequests: ContentCoding.isAvailable, columns: true))
        let listing = MetaResponse(
            protocolVersion: 1, serverTime: 1, maxPushPage: 5_000, maxPullPage: 10_000, maxBodyBytes: 16 << 20, clockToleranceMs: 300_000,
            contentEncodings: ["zstd"], pageForms: MetaResponse.allPageForms, syncLists: MetaResponse.allSyncLists)
        #expect(
            ServerAPI.Features(meta: listing) == ServerAPI.Features(compressedRequests: ContentCoding.isAvailable, columns: true, decksInSync: true))
        let unknownEncoding = MetaResponse(
            protocolVersion: 1, serverTime: 1, maxPushPage: 5_000, maxPullPage: 10_000, maxBodyBytes: 16 << 20, clockToleranceMs: 300_000,
            contentEncodings: ["br"], pageForms: ["attempts"])
        #expect(ServerAPI.Features(meta: unknownEncoding) == ServerAPI.Features())
    }

    /// `study sync` reads the server's meta once a day: the next syncs use what it said, until it is a day old, the home
    /// logs in to another server, or the server refuses a request (then the CLI asks again at once).
    @Test func theServersMetaIsRememberedForADayAndForThatServerOnly() throws {
        let store = try LocalStore(directory: temporaryDirectory())
        let meta = MetaResponse(
            protocolVersion: 1, serverTime: 1, maxPushPage: 64, maxPullPage: 10_000, maxBodyBytes: 1 << 16, clockToleranceMs: 300_000,
            contentEncodings: ["zstd"], pageForms: MetaResponse.allPageForms)
        let now: Int64 = 1_780_000_000_000
        #expect(try store.rememberedServerMeta(for: "http://a", now: now) == nil)
        try store.rememberServerMeta(meta, for: "http://a", now: now)
        let remembered = try #require(try store.rememberedServerMeta(for: "http://a", now: now + 1_000))
        #expect(remembered.maxPushPage == 64 && remembered.pageForms == MetaResponse.allPageForms && remembered.contentEncodings == ["zstd"])
        #expect(try store.rememberedServerMeta(for: "http://b", now: now + 1_000) == nil)
        #expect(try store.rememberedServerMeta(for: "http://a", now: now + LocalStore.serverMetaLifetimeMs) == nil)
        // A clock set back before the day it was read: not trusted either.
        #expect(try store.rememberedServerMeta(for: "http://a", now: now - 1) == nil)
        #expect(try store.rememberedServerMeta(for: "http://a", now: Int64.min) == nil)
    }
}
