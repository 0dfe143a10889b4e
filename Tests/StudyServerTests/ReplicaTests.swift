import Foundation
import Hummingbird
import HummingbirdTesting
import StudyServer
import Testing

/// Two servers on one database (issue 19): what one keeps, the other sees.
struct ReplicaTests {
    @Test func theLoginLimitsHoldAcrossServers() async throws {
        let configuration = try await testConfiguration()
        let first = try await buildApplication(configuration)
        let second = try await buildApplication(configuration)
        try await first.test(.router) { one in
            try await second.test(.router) { two in
                _ = try await one.account("lea")
                func login(_ client: any TestClientProtocol, _ password: String) async throws -> HTTPResponse.Status {
                    try await client.json(.post, "/v1/sessions", ["username": "lea", "password": password, "deviceName": "d"]).status
                }
                // Five failures for lea, spread over both servers, are five in total.
                for i in 0..<5 { #expect(try await login(i % 2 == 0 ? one : two, "wrong password") == .unauthorized) }
                #expect(try await login(two, "correct horse") == .tooManyRequests)
                #expect(try await login(one, "correct horse") == .tooManyRequests)
            }
        }
    }

    @Test func aSuccessOnOneServerForgivesTheFailuresCountedByTheOther() async throws {
        let configuration = try await testConfiguration()
        let first = try await buildApplication(configuration)
        let second = try await buildApplication(configuration)
        try await first.test(.router) { one in
            try await second.test(.router) { two in
                _ = try await one.account("max")
                func login(_ client: any TestClientProtocol, _ password: String) async throws -> HTTPResponse.Status {
                    try await client.json(.post, "/v1/sessions", ["username": "max", "password": password, "deviceName": "d"]).status
                }
                for _ in 0..<4 { #expect(try await login(one, "wrong password") == .unauthorized) }
                #expect(try await login(two, "correct horse") == .ok)
                for _ in 0..<4 { #expect(try await login(one, "wrong password") == .unauthorized) }
                #expect(try await login(two, "correct horse") == .ok)
            }
        }
    }
}
