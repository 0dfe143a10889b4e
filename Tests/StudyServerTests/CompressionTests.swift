import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import StudyAPI
import StudyClient
import StudyCore
import StudyServer
import Testing

/// Compression and the column form against the real server and PostgreSQL (PROTOCOL.md, "Compression", "The column
/// form"): negotiated, so the plainest client and `study` sync with the same server and agree; hostile bodies are
/// refused with a 4xx and the server keeps serving.
@Suite struct CompressionTests {
    @Test func theServerSaysWhatItReadsAndAnswersCompressedOnlyWhenAsked() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let meta = try await client.decoded(MetaResponse.self, .get, "/v1/meta", token: nil, [String: String]())
            #expect(meta.contentEncodings == ["zstd"] && meta.pageForms == MetaResponse.allPageForms && meta.syncLists == ["publishedDecks"])
            #expect(ServerAPI.Features(meta: meta) == ServerAPI.Features(compressedRequests: true, columns: true, decksInSync: true))
            // A server of an earlier version lists neither: `study` then sends what it always sent.
            let old = MetaResponse(
                protocolVersion: 1, serverTime: 1, maxPushPage: 5_000, maxPullPage: 5_000, maxBodyBytes: 1 << 24, clockToleranceMs: 300_000)
            #expect(ServerAPI.Features(meta: old) == ServerAPI.Features())

            let writer = try await Device.login(client, as: "zed", compact: true)
            var rng = SeededGenerator(seed: 3)
            try writer.study(400, from: Clock.nowMs() - 30 * hour, using: &rng)
            _ = try await writer.sync(client)
            let reader = try await Device.login(client, as: "zed")
            let pull = SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: [], pullLimit: 1_000)
            for accept in [nil, "zstd", "gzip", "zstd;q=0"] {
                var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(reader.token)"]
                if let accept { headers[.acceptEncoding] = accept }
                try await client.execute(uri: "/v1/sync", method: .post, headers: headers, body: ByteBuffer(bytes: pull.wireJSON())) { response in
                    #expect(response.status == .ok)
                    let compressed = accept == "zstd"
                    #expect(response.headers[.contentEncoding] == (compressed ? "zstd" : nil), "Accept-Encoding: \(accept ?? "none")")
                    var body = Array(response.body.readableBytesView)
                    if compressed { body = try ContentCoding.decompress(body, limit: 1 << 26) }
                    #expect(try SyncResponse(wireJSON: body).attempts.count == 400)
                }
            }
            // One attempt past the page limit, in the densest form: refused while read, with the usual 413.
            let attempts = try writer.store().attempts()
            let over = (0...SyncProtocol.maxPushPage).map { attempts[$0 % attempts.count] }
            let body = try #require(ContentCoding.compress(SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: over).wireJSON(columns: true)))
            let headers: HTTPFields = [
                .contentType: "application/json", .authorization: "Bearer \(reader.token)", .contentEncoding: "zstd",
            ]
            try await client.execute(uri: "/v1/sync", method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
                let error = try JSONDecoder().decode(ErrorBody.self, from: Data(response.body.readableBytesView))
                #expect(response.status == .contentTooLarge && error.error == "page_too_large", "\(error.message)")
            }
        }
    }

    @Test func studysWayAndThePlainestClientsWayConvergeOnOneAccount() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let compact = try await Device.login(client, as: "mia", compact: true)
            let plain = try await Device.login(client, as: "mia")
            var rng = SeededGenerator(seed: 11)
            try compact.study(1_200, from: Clock.nowMs() - 40 * hour, using: &rng)
            try plain.study(700, from: Clock.nowMs() - 39 * hour, using: &rng)
            // Small pages: several pushes and pulls each way, in both forms.
            _ = try await compact.sync(client, pageSize: 500)
            _ = try await plain.sync(client, pageSize: 300)
            _ = try await compact.sync(client, pageSize: 500)
            try await expectConverged([compact, plain], client)
            // The ids `study` made went as counter steps, and came back to the plain client as the same strings.
            let store = try compact.store()
            let ids = try store.attempts().filter { $0.deviceID == store.deviceID }.map(\.id)
            #expect(ids.count == 1_200 && ids.allSatisfy { $0.dropFirst(19) == store.deviceID.dropFirst(19) })
            let received = Set(try plain.store().attempts().map(\.id))
            #expect(received.isSuperset(of: ids))
        }
    }

    @Test func aDecompressionBombIsRefusedAtTheLimitAndTheServerKeepsServing() async throws {
        var configuration = try await testConfiguration()
        configuration.maxBodyBytes = 64 * 1024
        let app = try await buildApplication(configuration)
        try await app.test(.router) { client in
            let device = try await Device.login(client, as: "bomb")
            func post(_ body: [UInt8], encoding: String?) async throws -> (HTTPResponse.Status, String) {
                var headers: HTTPFields = [.contentType: "application/json", .authorization: "Bearer \(device.token)"]
                if let encoding { headers[.contentEncoding] = encoding }
                return try await client.execute(uri: "/v1/sync", method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
                    let error = try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body.readableBytesView))
                    return (response.status, "\(error?.error ?? "") \(error?.message ?? "")")
                }
            }
            // A valid request followed by 512 MiB of spaces: a few kilobytes on the wire.
            var json = SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: []).wireJSON()
            json += [UInt8](repeating: UInt8(ascii: " "), count: 512 << 20)
            let bomb = try #require(ContentCoding.compress(json))
            json = []
            #expect(bomb.count < 64 * 1024)
            let (status, message) = try await post(bomb, encoding: "zstd")
            #expect(status == .contentTooLarge && message.hasPrefix("body_too_large") && message.contains("decompressed"))

            let small = try #require(ContentCoding.compress(SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: []).wireJSON(), level: 3))
            let (broken, brokenMessage) = try await post(Array(small.dropLast(2)), encoding: "zstd")
            #expect(broken == .badRequest && brokenMessage.hasPrefix("invalid_encoding"))
            let (other, otherMessage) = try await post(small, encoding: "br")
            #expect(other == .unsupportedMediaType && otherMessage.hasPrefix("unsupported_encoding") && otherMessage.contains("zstd"))

            // Still serving, compressed and not.
            #expect(try await post(small, encoding: "zstd").0 == .ok)
            #expect(try await post(SyncRequest(clientTime: Clock.nowMs(), cursor: 0, attempts: []).wireJSON(), encoding: nil).0 == .ok)
        }
    }
}
