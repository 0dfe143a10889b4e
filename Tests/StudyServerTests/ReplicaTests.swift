import Foundation
import Hummingbird
import HummingbirdTesting
import LibPQ
import PostgresTestSupport
import StudyPostgres
import StudyServer
import Testing

/// Two servers on one database (issue 19): what one keeps, the other sees.
struct ReplicaTests {
    /// Two servers on one fresh database, and `username`'s login through either.
    func withTwoServers(
        _ username: String,
        _ body:
            @Sendable (
                _ one: any TestClientProtocol, _ two: any TestClientProtocol,
                _ login: @Sendable (any TestClientProtocol, String) async throws -> HTTPResponse.Status
            ) async throws -> Void
    ) async throws {
        let configuration = try await testConfiguration()
        let first = try await buildApplication(configuration)
        let second = try await buildApplication(configuration)
        try await first.test(.router) { one in
            try await second.test(.router) { two in
                _ = try await one.account(username)
                try await body(one, two) { client, password in
                    try await client.json(.post, "/v1/sessions", ["username": username, "password": password, "deviceName": "d"]).status
                }
            }
        }
    }

    @Test func theLoginLimitsHoldAcrossServers() async throws {
        try await withTwoServers("lea") { one, two, login async throws in
            // Five failures for lea, spread over both servers, are five in total.
            for i in 0..<5 { #expect(try await login(i % 2 == 0 ? one : two, "wrong password") == .unauthorized) }
            #expect(try await login(two, "correct horse") == .tooManyRequests)
            #expect(try await login(one, "correct horse") == .tooManyRequests)
        }
    }

    @Test func aSuccessOnOneServerForgivesTheFailuresCountedByTheOther() async throws {
        try await withTwoServers("max") { one, two, login async throws in
            for _ in 0..<4 { #expect(try await login(one, "wrong password") == .unauthorized) }
            #expect(try await login(two, "correct horse") == .ok)
            for _ in 0..<4 { #expect(try await login(one, "wrong password") == .unauthorized) }
            #expect(try await login(two, "correct horse") == .ok)
        }
    }
}

/// `--read-database-url`: boards and reports are read on the standby while it is up, and on the primary when it is not.
struct ReadReplicaTests {
    /// A team with one member on its board; how many rows the board shows its instructor.
    func boardRows(readingFrom standby: String?) async throws -> Int {
        var configuration = try await testConfiguration()
        configuration.readDatabaseURL = standby
        let app = try await buildApplication(configuration)
        return try await app.test(.router) { client in
            let admin = try await client.account("root")
            let lea = try await client.account("lea")
            let team = try await client.json(.post, "/v1/teams", token: admin, ["name": "Replicas"])
            let id = try #require(team.body["id"] as? Int)
            let code = try #require(try await client.json(.post, "/v1/teams/\(id)/invites", token: admin).body["code"] as? String)
            #expect(try await client.json(.post, "/v1/teams/join", token: lea, ["code": code]).status == .ok)
            let board = try await client.json(.get, "/v1/teams/\(id)/leaderboard?window=all&everyone=true", token: admin)
            #expect(board.status == .ok, "\(board.body)")
            return (board.body["rows"] as? [[String: Any]] ?? []).count
        }
    }

    @Test func boardsAreReadOnTheStandbyWhileItIsUp() async throws {
        // A "standby" that is a database of its own, with the schema but none of the primary's rows: a board read there
        // is empty, so an empty board shows the read went to it.
        var other = try await testConfiguration()
        let standby = try await TestDatabase.freshURL("standby")
        other.database = .url(standby)
        _ = try await buildApplication(other)  // migrates it
        #expect(try await boardRows(readingFrom: nil) == 1)
        #expect(try await boardRows(readingFrom: standby) == 0)
    }

    @Test func aStandbyThatIsDownSendsTheReadsToThePrimary() async throws {
        let rows = try await boardRows(readingFrom: "postgresql://nobody@127.0.0.1:\(try MetricsTests.freePort())/none?connect_timeout=2")
        #expect(rows == 1)
    }
}

/// The shared log of failures: each throttle sweeps only its own keys, with its own window.
struct LoginFailureLogTests {
    @Test func sweepingTheLoginsLeavesTheRegistrationsCounted() async throws {
        let store = PostgresStore(pool: PostgresPool(configuration: try await TestDatabase.fresh(), size: 2))
        try await withPool(store.pool) { _ in
            try await store.migrate()
            #expect(try await store.admitFailure(keys: [("login:addr:a", 1)], windowMs: 1_000, at: 10) == nil)
            #expect(try await store.admitFailure(keys: [("registration:addr:a", 1)], windowMs: 100_000, at: 10) == nil)
            try await store.sweepFailures(namespace: "login", before: 50)
            // The login's failure is gone; the registration, an hour's window, is still counted.
            #expect(try await store.admitFailure(keys: [("login:addr:a", 1)], windowMs: 100_000, at: 60) == nil)
            #expect(try await store.admitFailure(keys: [("registration:addr:a", 1)], windowMs: 100_000, at: 60) == 99_950)
        }
    }
}
