import Foundation
import StudyAPI
import Testing

@testable import StudyClient
@testable import StudyCore

/// The pages a sync pulls: small first, then larger, each asked for before the page before it is stored.
@Suite struct PullPagesTests {
    /// Another device's attempts, numbered 1…count, served by sequence number as the server serves them.
    actor Server: SyncTransport {
        let attempts: [PulledAttempt]
        private(set) var asked: [(cursor: Int64, limit: Int?)] = []

        init(count: Int, question: Question) {
            attempts = (1...count).map { i in
                PulledAttempt(
                    seq: Int64(i),
                    attempt: Attempt(
                        id: UUID().uuidString.lowercased(), deviceID: "other", questionID: question.id, questionVersion: question.version,
                        chosen: question.correct, correct: true, answeredAt: Int64(i) * 1_000, durationMs: 900, sessionID: "s"), flags: 0)
            }
        }

        func sync(_ request: SyncRequest) async throws -> SyncResponse {
            asked.append((request.cursor, request.pullLimit))
            let limit = min(request.pullLimit ?? SyncProtocol.maxPullPage, SyncProtocol.maxPullPage)
            let page = Array(attempts.dropFirst(Int(request.cursor)).prefix(limit))
            let cursor = page.last?.seq ?? request.cursor
            return SyncResponse(
                results: [], attempts: page, cursor: cursor, hasMore: cursor < Int64(attempts.count), serverTime: 1, clockOffsetMs: 0,
                clockWarning: nil)
        }
    }

    @Test func aLongPullAsksForASmallPageThenLargerOnes() async throws {
        let store = try LocalStore(directory: temporaryDirectory())
        let question = try store.requireDeck("ml-deployment").questions[0]
        let before = try store.attempts().count
        let server = Server(count: 16_000, question: question)
        let summary = try await SyncEngine(store: store, transport: server).run()
        let asked = await server.asked
        #expect(asked.map(\.cursor) == [0, 1_000, 5_000, 15_000])
        #expect(asked.map(\.limit) == [1_000, 4_000, nil, nil])
        #expect(summary.pulled == 16_000 && summary.requests == 4)
        #expect(try store.attempts().count == before + 16_000)
        #expect(store.syncCursor == 16_000)
    }

    @Test func aPullThatFitsTheFirstPageIsOneRequest() async throws {
        let store = try LocalStore(directory: temporaryDirectory())
        let server = Server(count: 1_000, question: try store.requireDeck("ml-deployment").questions[0])
        #expect(try await SyncEngine(store: store, transport: server).run().pulled == 1_000)
        #expect(await server.asked.count == 1)
        #expect(store.syncCursor == 1_000)
    }
}
