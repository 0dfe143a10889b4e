import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import StudyAPI
import StudyClient
import StudyCore
import StudyServer
import Testing

/// Clients and servers of different versions (issue 18): the protocol each speaks is named and checked, and the CLI
/// obeys the limits the server advertises instead of its own constants.
struct VersionSkewTests {
    @Test func aClientOfAnotherProtocolIsToldWhichSideToUpgrade() async throws {
        try await buildApplication(try await testConfiguration()).test(.router) { client in
            func meta(protocol value: String?) async throws -> (HTTPResponse.Status, [String: Any]) {
                var headers: HTTPFields = [:]
                if let value { headers[HTTPField.Name(SyncProtocol.versionHeader)!] = value }
                return try await client.execute(uri: "/v1/meta", method: .get, headers: headers) { response in
                    (response.status, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:])
                }
            }
            #expect(try await meta(protocol: nil).0 == .ok)
            #expect(try await meta(protocol: "\(SyncProtocol.version)").0 == .ok)
            let newer = try await meta(protocol: "\(SyncProtocol.version + 1)")
            #expect(newer.0 == .upgradeRequired && newer.1["error"] as? String == "unsupported_protocol")
            #expect((newer.1["message"] as? String)?.contains("ask its administrator to upgrade it") == true, "\(newer.1)")
            let older = try await meta(protocol: "0")
            #expect(older.0 == .upgradeRequired && (older.1["message"] as? String)?.contains("upgrade study") == true, "\(older.1)")
            #expect(try await meta(protocol: "one").0 == .upgradeRequired)
        }
    }

    @Test func theCLIPushesPagesThatFitTheBodyLimitTheServerAdvertises() async throws {
        var configuration = try await testConfiguration()
        configuration.maxBodyBytes = 64 * 1024
        try await buildApplication(configuration).test(.router) { client in
            let meta = try await client.decoded(MetaResponse.self, .get, "/v1/meta", token: nil, [String: String]())
            #expect(meta.maxBodyBytes == 64 * 1024)
            let pageSize = SyncEngine.pageSize(for: meta)
            #expect(pageSize == 64)
            let device = try await Device.login(client, as: "lea")
            var rng = SeededGenerator(seed: 18)
            try device.study(900, from: Clock.nowMs() - 900 * 20_000, using: &rng)
            // The built-in page of 5,000 is over this server's limit; the advertised one is not.
            await #expect(throws: (any Error).self) { _ = try await device.sync(client, pageSize: SyncProtocol.maxPushPage) }
            let summary = try await device.sync(client, pageSize: pageSize)
            #expect(summary.pushed == 900)
        }
        #expect(
            SyncEngine.pageSize(
                for: MetaResponse(
                    protocolVersion: 1, serverTime: 0, maxPushPage: 5_000, maxPullPage: 5_000, maxBodyBytes: 16 << 20, clockToleranceMs: 0)) == 5_000)
        #expect(
            SyncEngine.pageSize(
                for: MetaResponse(
                    protocolVersion: 1, serverTime: 0, maxPushPage: 100, maxPullPage: 5_000, maxBodyBytes: 16 << 20, clockToleranceMs: 0)) == 100)
    }

    @Test func bothProgramsSayTheirVersion() throws {
        #expect(!StudySyncVersion.current.isEmpty)
        let output = try OperatorCommand(databaseURL: "").run(["--version"])
        #expect(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == StudySyncVersion.current)
    }
}
