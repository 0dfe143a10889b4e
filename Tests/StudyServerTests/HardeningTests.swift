import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LibPQ
import NIOCore
import PostgresTestSupport
import StudyAPI
import StudyClient
import StudyCore
import StudyDecks
import Testing

@testable import StudyServer

/// Issue 15's reproductions, each against the real server on a real PostgreSQL: hostile values get a 4xx (or a per-attempt
/// refusal) and the server keeps serving; no attempt can wedge an account or move it in time; the login limit holds.
@Suite(.serialized) struct HardeningTests {
    static let year: Int64 = 365 * 24 * 3_600_000

    /// Sends raw bytes as the body of `POST /v1/sync` and returns the status and the decoded JSON.
    func sync(_ client: some TestClientProtocol, _ token: String, _ body: String) async throws -> (status: HTTPResponse.Status, body: [String: Any]) {
        try await client.execute(
            uri: "/v1/sync", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer \(token)"],
            body: ByteBuffer(string: body)
        ) { response in
            (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:])
        }
    }

    func attemptJSON(id: String = UUID().uuidString.lowercased(), device: String, question: Question, answeredAt: Int64, durationMs: Int64 = 5_000)
        -> String
    {
        let session = "0190a3c4-1111-7000-8000-00000000abcd"
        return
            #"{"id":"\#(id)","deviceId":"\#(device)","questionId":"\#(question.id)","questionVersion":"\#(question.version)","chosen":\#(question.correct),"#
            + #""correct":true,"answeredAt":\#(answeredAt),"durationMs":\#(durationMs),"sessionId":"\#(session)"}"#
    }

    func deviceID(_ client: some TestClientProtocol, _ token: String) async throws -> String {
        let devices = try await client.json(.get, "/v1/devices", token: token).body["devices"] as? [[String: Any]] ?? []
        return devices.first { $0["current"] as? Bool == true }?["id"] as? String ?? ""
    }

    @Test func overflowingNumbersAreRefusedWithTheirFieldAndTheServerKeepsServing() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let token = try await client.account("numbers")
            for (body, field) in [
                (#"{"clientTime":-9223372036854775808,"cursor":0,"attempts":[],"sessions":[]}"#, "clientTime"),
                (#"{"clientTime":-9200000000000000000,"cursor":0,"attempts":[],"sessions":[]}"#, "clientTime"),
                (#"{"clientTime":9200000000000000000,"cursor":0,"attempts":[],"sessions":[]}"#, "clientTime"),
                (#"{"clientTime":1780000000000,"cursor":9223372036854775807,"pullLimit":10,"attempts":[],"sessions":[]}"#, "cursor"),
                (#"{"clientTime":1780000000000,"cursor":-1,"attempts":[],"sessions":[]}"#, "cursor"),
                (#"{"clientTime":1780000000000,"cursor":0,"pullLimit":-5,"attempts":[],"sessions":[]}"#, "pullLimit"),
                (
                    #"{"clientTime":1780000000000,"cursor":0,"attempts":[],"sessions":[{"id":"0190a3c4-1111-7000-8000-00000000abcd","deckId":"d\u0000","startedAt":1}]}"#,
                    "sessions[0].deckId"
                ),
            ] {
                let answer = try await sync(client, token, body)
                #expect(answer.status == .badRequest, "\(body)")
                #expect(answer.body["field"] as? String == field, "\(body)")
                #expect(answer.body["error"] as? String == "invalid_field")
            }
            let nested = #"{"clientTime":1,"cursor":0,"attempts":[],"sessions":[],"x":"# + String(repeating: "[", count: 100_000) + "}"
            let deep = try await sync(client, token, nested)
            #expect(deep.status == .badRequest && (deep.body["message"] as? String)?.contains("nested more than") == true)
            // Still serving, and the account still syncs.
            #expect(try await client.json(.get, "/healthz").status == .ok)
            #expect(try await sync(client, token, #"{"clientTime":1780000000000,"cursor":0,"attempts":[],"sessions":[]}"#).status == .ok)
        }
    }

    @Test func anAttemptOutOfRangeIsRejectedAloneAndCannotWedgeItsQuestion() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let token = try await client.account("wedge")
            let device = try await deviceID(client, token)
            let question = try SeedFormat.parse(BundledDeckText.mlDeployment, name: "ml").questions[0]
            let now = Clock.nowMs()
            // A first attempt whose duration would overflow the question's running sums, one stamped at the end of time,
            // one with a NUL in its question id and one with a megabyte question id: each rejected, the good one stored.
            let nul = attemptJSON(device: device, question: question, answeredAt: now).replacingOccurrences(
                of: question.id, with: question.id + "\\u0000x")
            let huge = attemptJSON(device: device, question: question, answeredAt: now).replacingOccurrences(
                of: question.id, with: String(repeating: "q", count: 1 << 20))
            let page = [
                attemptJSON(device: device, question: question, answeredAt: now - 60_000, durationMs: .max),
                attemptJSON(device: device, question: question, answeredAt: .max),
                nul, huge,
                attemptJSON(device: device, question: question, answeredAt: now - 30_000),
            ]
            let answer = try await sync(
                client, token, #"{"clientTime":\#(now),"cursor":0,"sessions":[],"attempts":[\#(page.joined(separator: ","))]}"#)
            #expect(answer.status == .ok, "\(answer.body)")
            let results = answer.body["results"] as? [[String: Any]] ?? []
            #expect(results.map { $0["status"] as? String } == ["rejected", "rejected", "rejected", "rejected", "inserted"])
            #expect((results.first?["reason"] as? String)?.contains("durationMs") == true)
            #expect((results[1]["reason"] as? String)?.contains("answeredAt") == true)
            // Later attempts on the same question keep being stored.
            let later = attemptJSON(device: device, question: question, answeredAt: now - 10_000, durationMs: AttemptRules.maxDurationMs)
            let next = try await sync(client, token, #"{"clientTime":\#(now),"cursor":0,"sessions":[],"attempts":[\#(later)]}"#)
            #expect((next.body["results"] as? [[String: Any]])?.first?["status"] as? String == "inserted")
        }
    }

    /// A device (or a forged request) stamps attempts a year ahead: they are kept, flagged `ahead`, and move neither
    /// another device's clock nor anyone's schedule; the pushing device learns so from the result.
    @Test func attemptsStampedInTheFutureMoveNoClockAndNoSchedule() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let laptop = try await Device.login(client, as: "future")
            let desktop = try await Device.login(client, as: "future")
            var rng = SeededGenerator(seed: 15)
            let now = Clock.nowMs()
            // The laptop's clock is a year ahead when it studies, and when it first syncs.
            try laptop.study(4, from: now + Self.year, using: &rng)
            let pushed = try await laptop.sync(client, clock: { Clock.nowMs() + Self.year })
            #expect(pushed.pushed == 4)
            // The same over the API, two years ahead (1e15, the year 33658, is past the latest time accepted: rejected).
            let question = try SeedFormat.parse(BundledDeckText.mlDeployment, name: "ml").questions[1]
            let forged = attemptJSON(device: try await deviceID(client, laptop.token), question: question, answeredAt: now + 2 * Self.year)
            let answer = try await sync(client, laptop.token, #"{"clientTime":\#(now),"cursor":0,"sessions":[],"attempts":[\#(forged)]}"#)
            #expect((answer.body["results"] as? [[String: Any]])?.first?["ahead"] as? Bool == true)

            // The desktop studies now, pulls the laptop's attempts, and studies again: its clock stays on today.
            try desktop.study(3, from: now - 60_000, using: &rng)
            _ = try await desktop.sync(client)
            let store = try desktop.store()
            #expect(try store.attempts().count == 8)
            #expect(try store.hybridClock().last < now + AttemptRules.clockTolerance)
            try desktop.study(1, from: Clock.nowMs(), using: &rng)
            #expect(try store.hybridClock().last < Clock.nowMs() + AttemptRules.clockTolerance)
            // Nothing in anyone's progress is due a year from now, and the desktop, the laptop and the server agree.
            _ = try await desktop.sync(client)
            _ = try await laptop.sync(client)
            let progress = try store.progress()
            #expect(progress.values.allSatisfy { ($0.card.due ?? 0) < now + Self.year / 2 })
            #expect(progress.values.reduce(0) { $0 + $1.attempts } == 4)
            let laptopProgress = try laptop.store().progress()
            #expect(laptopProgress == progress, "\(laptopProgress.mapValues(\.attempts)) \(progress.mapValues(\.attempts))")
            let server = try await client.decoded(ServerProgress.self, .get, "/v1/progress", token: desktop.token, [String: String]()).progress
            #expect(Dictionary(uniqueKeysWithValues: server.map { ($0.questionID, $0.card) }) == progress.mapValues(\.card))
            // The laptop, once it knows its offset, stamps today's time again.
            #expect(try laptop.store().hybridClock().last < now + AttemptRules.clockTolerance)
        }
    }

    @Test func namesAndTextWithControlCharactersAreRefusedNamingTheField() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let register = try await client.json(.post, "/v1/accounts", ["username": "lea", "password": "correct horse", "displayName": "Lea\u{0}x"])
            #expect(register.status == .badRequest && register.body["field"] as? String == "displayName")
            let password = try await client.json(.post, "/v1/accounts", ["username": "lea", "password": "correct horse\u{0}"])
            #expect(password.status == .badRequest && password.body["field"] as? String == "password")
            _ = try await client.account("lea")
            let login = try await client.json(.post, "/v1/sessions", ["username": "lea", "password": "correct horse", "deviceName": "lap\u{0}top"])
            #expect(login.status == .badRequest && login.body["field"] as? String == "deviceName")
            let long = try await client.json(
                .post, "/v1/sessions", ["username": "lea", "password": "correct horse", "deviceName": String(repeating: "x", count: 65)])
            #expect(long.status == .badRequest && long.body["field"] as? String == "deviceName")
            // A path with a NUL reaches no SQL: a clear 404.
            let token = try await client.account("admin0")
            #expect(try await client.json(.get, "/v1/decks/d%00x", token: token).status == .notFound)
        }
    }

    @Test func theLoginLimitCountsTheAccountHoweverTheNameIsSpelledAndHoweverManyComeAtOnce() async throws {
        var configuration = try await testConfiguration()
        configuration.bcryptCost = 6
        let app = try await buildApplication(configuration)
        try await app.test(.router) { client in
            _ = try await client.account("lea2")
            // Twenty wrong passwords at once against a limit of five: five are checked, the rest refused.
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for i in 0..<20 {
                    group.addTask { try await client.json(.post, "/v1/sessions", ["username": "lea2", "password": "wrong guess \(i)"]).status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.count { $0 == .unauthorized } == 5)
            #expect(statuses.count { $0 == .tooManyRequests } == 15)
            // The account is locked, however its name is spelled: a NUL suffix is not another account to guess at.
            let right = try await client.json(.post, "/v1/sessions", ["username": "lea2", "password": "correct horse"])
            #expect(right.status == .tooManyRequests && right.headers[.retryAfter] != nil)
            let spelled = try await client.json(.post, "/v1/sessions", ["username": "lea2\u{0}x", "password": "correct horse"])
            #expect(spelled.status == .unauthorized)
        }
    }

    /// Behind a trusted proxy the address limit counts each client's own address, so failures from one client do not
    /// lock out the others; from anyone else, `X-Forwarded-For` is ignored, so it cannot be used to dodge the limit.
    @Test(arguments: [true, false])
    func theAddressLimitCountsClientsBehindATrustedProxy(trusted: Bool) async throws {
        var configuration = try await testConfiguration()
        configuration.loginFailuresPerAddress = 3
        configuration.trustedProxies = trusted ? ["127.0.0.1"] : []
        let app = try await buildApplication(configuration)
        try await app.test(.live) { client in
            _ = try await client.account("lea3")
            func login(_ username: String, _ password: String, from address: String) async throws -> HTTPResponse.Status {
                let body = try JSONEncoder().encode(["username": username, "password": password])
                return try await client.execute(
                    uri: "/v1/sessions", method: .post,
                    headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: "203.0.113.9, \(address)"],
                    body: ByteBuffer(data: body)
                ) { $0.status }
            }
            for i in 0..<3 { #expect(try await login("nobody\(i)", "wrong password", from: "10.0.0.\(trusted ? 1 : i + 1)") == .unauthorized) }
            #expect(try await login("nobody9", "wrong password", from: "10.0.0.1") == .tooManyRequests)
            #expect(try await login("lea3", "correct horse", from: "10.0.0.2") == (trusted ? .ok : .tooManyRequests))
        }
    }

    @Test func throttlesForgetOldKeysAndTrustOnlyNamedProxies() async throws {
        let throttle = LoginThrottle(perUsername: 5, perAddress: 30, windowMs: 1_000)
        // Failures with names no account can have are counted against the address only: no key per name.
        for i in 0..<1_000 { _ = try await throttle.admit(username: nil, address: "10.0.0.\(i % 7)", now: Int64(i)) }
        #expect(await throttle.trackedKeys <= 7)
        for i in 0..<1_000 { _ = try await throttle.admit(username: "user\(i)", address: nil, now: 10_000 + Int64(i) * 10) }
        // Keys whose failures all left the window are swept away as logins go on.
        #expect(await throttle.trackedKeys < 400)
        // Success forgives the attempt it was admitted as.
        let fresh = LoginThrottle(perUsername: 2, perAddress: 2, windowMs: 60_000)
        #expect(try await fresh.admit(username: "ana", address: "a", now: 1) == nil)
        try await fresh.forgive(username: "ana", address: "a", admittedAt: 1)
        #expect(try await fresh.admit(username: "ana", address: "a", now: 2) == nil)
        #expect(try await fresh.admit(username: "ana", address: "a", now: 3) == nil)
        #expect(try await fresh.admit(username: "ana", address: "a", now: 4) != nil)

        let registrations = LoginThrottle(perUsername: 3, perAddress: 3, windowMs: 60_000)
        for i in 0..<3 { #expect(try await registrations.admit(username: nil, address: "b", now: Int64(i)) == nil) }
        #expect(try await registrations.admit(username: nil, address: "b", now: 10) == 60)
        #expect(try await registrations.admit(username: nil, address: "c", now: 10) == nil)
    }

    /// A server opens its pool's connections as it starts, not as its first requests come (`opensConnectionsAtStart`).
    @Test func theServerOpensItsPoolAtStart() async throws {
        var configuration = try await testConfiguration()
        configuration.opensConnectionsAtStart = true
        configuration.poolSize = 3
        let name = try testDatabaseName(configuration)
        let app = try await buildApplication(configuration)
        let admin = PostgresPool(configuration: try TestDatabase.serverConfiguration(), size: 1)
        let backends = try await admin.query(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = \(name) AND backend_type = 'client backend' AND application_name = 'studysync'
            """
        ).scalar(Int.self)
        // Starting used one (the migrations, the bundled decks); opening the pool, all three.
        #expect(backends == 3)
        try await app.test(.router) { client in
            let ready = try await client.json(.get, "/readyz")
            #expect(ready.status == .ok)
        }
        await admin.close()
    }

    /// While PostgreSQL refuses connections, every `/v1` call is a 503 with `Retry-After`, `/readyz` says so without
    /// saying where the database is, and the server serves again once it is back.
    @Test func aDatabaseOutageIsA503WithRetryAfterAndPassesByItself() async throws {
        var configuration = try await testConfiguration()
        configuration.poolSize = 2
        let name = try testDatabaseName(configuration)
        let app = try await buildApplication(configuration)
        let admin = PostgresPool(configuration: try TestDatabase.serverConfiguration(), size: 1)
        try await app.test(.router) { client in
            let token = try await client.account("outage")
            try await admin.query("ALTER DATABASE \(identifier: name) ALLOW_CONNECTIONS false")
            try await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = \(name)")
            let down = try await client.json(.get, "/v1/devices", token: token)
            #expect(down.status == .serviceUnavailable)
            #expect(down.body["error"] as? String == "database_unavailable")
            #expect(down.headers[.retryAfter] != nil)
            let ready = try await client.json(.get, "/readyz")
            #expect(ready.status == .serviceUnavailable && ready.headers[.retryAfter] != nil)
            #expect((ready.body["message"] as? String)?.contains("/") == false)
            try await admin.query("ALTER DATABASE \(identifier: name) ALLOW_CONNECTIONS true")
            var status = HTTPResponse.Status.serviceUnavailable
            for _ in 0..<50 where status != .ok {
                status = try await client.json(.get, "/v1/devices", token: token).status
                if status != .ok { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == .ok)
        }
        await admin.close()
    }
}

/// The bounds the served OpenAPI document states are the ones the server enforces (PROTOCOL.md, "Bounds").
@Suite struct BoundsDocumentTests {
    @Test func theOpenAPIDocumentStatesTheBoundsTheServerEnforces() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let spec = try await client.json(.get, "/v1/openapi.json").body
            let schemas = try #require((spec["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
            func property(_ schema: String, _ name: String) -> [String: Any] {
                ((schemas[schema]?["properties"] as? [String: Any])?[name] as? [String: Any]) ?? [:]
            }
            func number(_ value: Any?) -> Int64? { (value as? NSNumber)?.int64Value }
            #expect(number(property("SyncRequest", "clientTime")["maximum"]) == AttemptRules.latestTime)
            #expect(number(property("SyncRequest", "cursor")["maximum"]) == SyncProtocol.maxCursor)
            #expect(number(property("SyncRequest", "attempts")["maxItems"]) == Int64(SyncProtocol.maxPushPage))
            #expect(number(property("SyncRequest", "sessions")["maxItems"]) == Int64(SyncProtocol.maxSessions))
            #expect(number(property("Attempt", "answeredAt")["maximum"]) == AttemptRules.latestTime)
            #expect(number(property("Attempt", "durationMs")["maximum"]) == AttemptRules.maxDurationMs)
            #expect(number(property("Attempt", "questionId")["maxLength"]) == Int64(Attempt.maxIdentifierLength))
            #expect(number(property("StudySession", "startedAt")["maximum"]) == AttemptRules.latestTime)
            #expect(property("PushResult", "ahead")["type"] as? String == "boolean")
            #expect(property("Error", "field")["type"] as? String == "string")
            // Every operation documents the answers any request may get: 408, 431 and 503.
            for (path, operations) in spec["paths"] as? [String: [String: Any]] ?? [:] {
                for (method, operation) in operations {
                    let codes = Set(((operation as? [String: Any])?["responses"] as? [String: Any] ?? [:]).keys)
                    #expect(codes.isSuperset(of: ["408", "431", "503"]), "\(method) \(path)")
                }
            }
        }
    }
}

/// The bundled deck's text, for tests that need its questions' ids.
enum BundledDeckText {
    static var mlDeployment: String {
        get throws { try BundledDecks.all()[0].text }
    }
}
