import StudyAPI
import StudyCore
import Testing

/// The bounds of a sync request's own fields (PROTOCOL.md, "Bounds"): the first one out of range is named.
struct SyncRequestBoundsTests {
    static let id = "0190a3c4-1111-7000-8000-00000000abcd"

    static func attempt() -> Attempt {
        Attempt(
            id: id, deviceID: id, questionID: "q", questionVersion: "v", chosen: [1], correct: true, answeredAt: 5, durationMs: 1_000, sessionID: id)
    }

    @Test func aRequestOutOfRangeNamesItsField() {
        func field(_ request: SyncRequest) -> String? { request.problem()?.field }
        let session = StudySession(id: Self.id, deckId: "d1", startedAt: 5)
        #expect(field(SyncRequest(clientTime: 5, cursor: 0, attempts: [], sessions: [session], pullLimit: 0)) == nil)
        #expect(field(SyncRequest(clientTime: .min, cursor: 0, attempts: [])) == "clientTime")
        #expect(field(SyncRequest(clientTime: -1, cursor: 0, attempts: [])) == "clientTime")
        #expect(field(SyncRequest(clientTime: 9_200_000_000_000_000_000, cursor: 0, attempts: [])) == "clientTime")
        #expect(field(SyncRequest(clientTime: 5, cursor: .max, attempts: [], pullLimit: 10)) == "cursor")
        #expect(field(SyncRequest(clientTime: 5, cursor: -1, attempts: [])) == "cursor")
        #expect(field(SyncRequest(clientTime: 5, cursor: SyncProtocol.maxCursor, attempts: [])) == nil)
        #expect(field(SyncRequest(clientTime: 5, cursor: 0, attempts: [], pullLimit: -1)) == "pullLimit")
        #expect(field(SyncRequest(clientTime: 5, cursor: 0, attempts: [], pullLimit: 1_000_000)) == nil)  // capped, not refused
        let page = [Attempt](repeating: Self.attempt(), count: SyncProtocol.maxPushPage + 1)
        #expect(field(SyncRequest(clientTime: 5, cursor: 0, attempts: page)) == "attempts")
        let badDeck = StudySession(id: Self.id, deckId: "d\u{0}", startedAt: 5)
        #expect(field(SyncRequest(clientTime: 5, cursor: 0, attempts: [], sessions: [session, badDeck])) == "sessions[1].deckId")
        let badTime = StudySession(id: Self.id, deckId: "d1", startedAt: .max)
        #expect(field(SyncRequest(clientTime: 5, cursor: 0, attempts: [], sessions: [badTime])) == "sessions[0].startedAt")
        let badID = StudySession(id: "s", deckId: "d1", startedAt: 5)
        #expect(field(SyncRequest(clientTime: 5, cursor: 0, attempts: [], sessions: [badID])) == "sessions[0].id")
    }
}
