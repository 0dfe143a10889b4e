import Foundation
import Hummingbird
import HummingbirdTesting
import StudyAPI
import StudyCore
import StudyServer
import Testing

@Suite(.serialized) struct APITests {
    @Test func healthReadinessMetaAndOpenAPIAnswer() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            #expect(try await client.json(.get, "/healthz").body["status"] as? String == "ok")
            #expect(try await client.json(.get, "/readyz").body["status"] as? String == "ready")
            let meta = try await client.json(.get, "/v1/meta").body
            #expect(meta["maxPushPage"] as? Int == SyncProtocol.maxPushPage)
            #expect(meta["maxBodyBytes"] as? Int == 16 * 1024 * 1024)
            let spec = try await client.json(.get, "/v1/openapi.json")
            #expect(spec.status == .ok)
            let paths = Set((spec.body["paths"] as? [String: Any])?.keys.map { $0 } ?? [])
            for path in [
                "/v1/sync", "/v1/progress", "/v1/devices/{id}", "/v1/teams", "/v1/teams/join", "/v1/teams/{team}", "/v1/teams/{team}/membership",
                "/v1/teams/{team}/members", "/v1/teams/{team}/invites", "/v1/teams/{team}/decks", "/v1/teams/{team}/leaderboard",
                "/v1/teams/{team}/reports/learners", "/v1/teams/{team}/reports/learners/{username}", "/v1/teams/{team}/reports/questions",
                "/v1/decks", "/v1/decks/{deck}", "/v1/me/leaderboard", "/v1/users/{username}/role",
            ] {
                #expect(paths.contains(path), "the OpenAPI document lacks \(path)")
            }
        }
    }

    @Test func everyErrorIsJSONWithACodeAndASentence() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let missing = try await client.json(.get, "/v1/nowhere")
            #expect(missing.status == .notFound)
            #expect(missing.body["error"] as? String == "not_found")
            let anonymous = try await client.json(.post, "/v1/sync", SyncRequest(clientTime: 0, cursor: 0, attempts: []))
            #expect(anonymous.status == .unauthorized)
            #expect((anonymous.body["message"] as? String)?.contains("Authorization: Bearer") == true)
            let forged = try await client.json(.get, "/v1/devices", token: "not-a-real-token")
            #expect(forged.status == .unauthorized && forged.body["error"] as? String == "invalid_token")
            let garbage = try await client.execute(uri: "/v1/accounts", method: .post, body: ByteBuffer(string: "{not json")) { $0 }
            #expect(garbage.status == .badRequest)
            let token = try await client.account("wire")
            // Only clientTime is wrong (a dictionary with two wrong fields would name either, in its random order).
            struct WrongType: Encodable { let clientTime = "noon"; let cursor = 0 }
            let wrongType = try await client.json(.post, "/v1/sync", token: token, WrongType())
            #expect(
                wrongType.status == .badRequest
                    && wrongType.body["message"] as? String == "The JSON field 'clientTime' has the wrong type: expected an integer.")
            let lacking = try await client.json(.post, "/v1/sync", token: token, ["clientTime": 1, "cursor": 0])
            #expect(lacking.status == .badRequest && lacking.body["message"] as? String == "The JSON body lacks the field 'attempts'.")
            // A page as rows whose question position is outside `strings`.
            let rows =
                #"{"clientTime": 1, "cursor": 0, "sessions": [], "attemptRows": {"strings": ["d", "q", "v", "s"], "rows": [["i", 0, 4, 2, [1], true, 5, 6, 3]]}}"#
            let badRow = try await client.execute(
                uri: "/v1/sync", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer \(token)"],
                body: ByteBuffer(string: rows)
            ) { response in (response.status, try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) }
            #expect(badRow.0 == .badRequest)
            #expect(
                badRow.1?["message"] as? String
                    == "The JSON field 'attemptRows.rows[0][2]' has the wrong type: 4 is not a position in 'strings' (it holds 4).")
            // Asked for runs, the results come as runs: two attempts whose id is not a UUID, refused for the same reason.
            let twoRows = rows.replacingOccurrences(of: "0, 4, 2", with: "0, 1, 2").replacingOccurrences(
                of: "]]}}", with: "], [\"j\", 0, 1, 2, [1], true, 7, 6, 3]]}, \"resultRuns\": true}")
            let runs = try await client.execute(
                uri: "/v1/sync", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer \(token)"],
                body: ByteBuffer(string: twoRows)
            ) { response in (response.status, try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) }
            #expect(runs.0 == .ok && runs.1?["results"] == nil)
            let run = (runs.1?["resultRuns"] as? [[String: Any]])
            #expect(run?.count == 1 && run?.first?["status"] as? String == "rejected" && run?.first?["count"] as? Int == 2)
        }
    }

    /// A device's row (last seen, clock offset) is written when it is a minute old or the measured offset moved by more
    /// than a second, not by every request: the pages of one push write it once.
    @Test func theDeviceRowIsWrittenOncePerMinuteNotPerPage() async throws {
        final class ServerClock: @unchecked Sendable {
            private let lock = NSLock()
            private var value: Int64 = 1_800_000_000_000
            var now: Int64 { lock.withLock { value } }
            func advance(_ ms: Int64) { lock.withLock { value += ms } }
        }
        let clock = ServerClock()
        let app = try await buildApplication(try await testConfiguration(), clock: { clock.now })
        try await app.test(.router) { client in
            let token = try await client.account("pager")
            func lastSeen() async throws -> (Int64?, Int64?) {
                let device = (try await client.json(.get, "/v1/devices", token: token).body["devices"] as? [[String: Any]])?.first
                return ((device?["lastSeenAt"] as? NSNumber)?.int64Value, (device?["clockOffsetMs"] as? NSNumber)?.int64Value)
            }
            func push(clientTime: Int64) async throws {
                let id = { UUID().uuidString.lowercased() }
                let page = (0..<3).map { i in
                    Attempt(
                        id: id(), deviceID: id(), questionID: "q", questionVersion: "v", chosen: [0], correct: true,
                        answeredAt: clientTime - 10_000 + Int64(i) * 2_000, durationMs: 2_000, sessionID: id())
                }
                let answer = try await client.decoded(
                    SyncResponse.self, .post, "/v1/sync", token: token,
                    SyncRequest(clientTime: clientTime, cursor: 0, attempts: page, pullLimit: 0))
                #expect(answer.results.allSatisfy { $0.status == .inserted })
            }
            let first = clock.now
            try await push(clientTime: first)
            #expect(try await lastSeen() == (first, 0))
            clock.advance(30_000)
            try await push(clientTime: clock.now)  // half a minute later, the same offset: nothing written
            #expect(try await lastSeen() == (first, 0))
            clock.advance(31_000)
            try await push(clientTime: clock.now)  // a minute after the last write
            #expect(try await lastSeen() == (first + 61_000, 0))
            clock.advance(1_000)
            try await push(clientTime: clock.now - 5_000)  // the device's clock fell 5 s behind: written at once
            #expect(try await lastSeen() == (first + 62_000, 5_000))
        }
    }

    @Test func registrationStatesItsRules() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let badName = try await client.json(.post, "/v1/accounts", ["username": "A!", "password": "long enough"])
            #expect(badName.status == .badRequest && badName.body["error"] as? String == "invalid_username")
            #expect((badName.body["message"] as? String)?.contains("3 to 32 characters") == true)
            let badPassword = try await client.json(.post, "/v1/accounts", ["username": "ann", "password": "short"])
            #expect(badPassword.status == .badRequest && (badPassword.body["message"] as? String)?.contains("at least 8 characters") == true)
            #expect(try await client.json(.post, "/v1/accounts", ["username": "ann", "password": "long enough"]).status == .created)
            let taken = try await client.json(.post, "/v1/accounts", ["username": "ann", "password": "long enough"])
            #expect(taken.status == .conflict && taken.body["error"] as? String == "username_taken")
        }
    }

    @Test func anUnknownUserAndAWrongPasswordGetTheSameAnswerAndFailuresAreRateLimited() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            _ = try await client.json(.post, "/v1/accounts", ["username": "carl", "password": "right password"])
            let wrong = try await client.json(.post, "/v1/sessions", ["username": "carl", "password": "wrong password"])
            let unknown = try await client.json(.post, "/v1/sessions", ["username": "nobody", "password": "wrong password"])
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized)
            // The same answer but for each request's own id.
            #expect(wrong.body.filter { $0.key != "requestId" } as NSDictionary == unknown.body.filter { $0.key != "requestId" } as NSDictionary)
            #expect(wrong.body["requestId"] as? String != unknown.body["requestId"] as? String)
            for _ in 0..<4 { _ = try await client.json(.post, "/v1/sessions", ["username": "carl", "password": "wrong again"]) }
            // Five failures for carl: even the right password now waits.
            let limited = try await client.json(.post, "/v1/sessions", ["username": "carl", "password": "right password"])
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(limited.body["error"] as? String == "too_many_attempts")
        }
    }

    @Test func tokensAreRevocableAndDevicesBelongToTheirOwner() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let laptop = UUID().uuidString.lowercased()
            let token = try await client.account("dora", deviceID: laptop)
            let other = try await client.account("dora", deviceID: UUID().uuidString.lowercased())
            let devices = try await client.json(.get, "/v1/devices", token: token).body["devices"] as? [[String: Any]]
            #expect(devices?.count == 2)
            #expect(devices?.first { $0["id"] as? String == laptop }?["current"] as? Bool == true)
            // Another user can neither see nor revoke dora's devices.
            let eve = try await client.account("eve")
            #expect(try await client.json(.delete, "/v1/devices/\(laptop)", token: eve).status == .notFound)
            #expect(try await client.json(.get, "/v1/devices", token: token).status == .ok)
            // Revoking from the other device stops the laptop's token at once.
            #expect(try await client.json(.delete, "/v1/devices/\(laptop)", token: other).status == .noContent)
            #expect(try await client.json(.get, "/v1/devices", token: token).status == .unauthorized)
            // Logging out revokes only that token.
            #expect(try await client.json(.delete, "/v1/sessions/current", token: other).status == .noContent)
            #expect(try await client.json(.get, "/v1/devices", token: other).status == .unauthorized)
            // A device id that belongs to dora cannot be claimed by eve.
            let stolen = try await client.json(
                .post, "/v1/sessions", ["username": "eve", "password": "correct horse", "deviceId": laptop, "deviceName": "x"])
            #expect(stolen.status == .conflict)
        }
    }
}
