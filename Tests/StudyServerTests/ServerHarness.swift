import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresTestSupport
import StudyAPI
import StudyClient
import StudyCore
import StudyServer
import Testing

/// The real application over a fresh, migrated database of its own, with a fast bcrypt.
func testConfiguration() async throws -> ServerConfiguration {
    var configuration = ServerConfiguration(database: .url(try await TestDatabase.freshURL("srv")))
    configuration.bcryptCost = 4
    configuration.port = 0
    configuration.logLevel = .warning
    // Many servers start at once on the tests' PostgreSQL: each opens connections as it needs them
    // (`HardeningTests.theServerOpensItsPoolAtStart` tests the opening).
    configuration.opensConnectionsAtStart = false
    return configuration
}

/// The name of the database a test configuration serves (`testConfiguration`), for statements about it from outside.
func testDatabaseName(_ configuration: ServerConfiguration) throws -> String {
    let url: String? = if case .url(let url) = configuration.database { url } else { nil }
    return String(try #require(url.flatMap { URLComponents(string: $0)?.path.dropFirst() }, "the test database has no name"))
}

extension TestClientProtocol {
    /// Sends JSON and returns the status and the decoded JSON body.
    @discardableResult
    func json(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, _ body: some Encodable = [String: String]()) async throws
        -> (status: HTTPResponse.Status, body: [String: Any], headers: HTTPFields)
    {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        let data = try JSONEncoder().encode(body)
        return try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: data)) { response in
            let object =
                response.body.readableBytes == 0
                ? [:] : (try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:])
            return (response.status, object, response.headers)
        }
    }

    func decoded<T: Decodable>(_ type: T.Type, _ method: HTTPRequest.Method, _ uri: String, token: String?, _ body: some Encodable) async throws -> T
    {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: uri, method: method, headers: headers, body: ByteBuffer(bytes: try JSONEncoder().encode(body))) { response in
            guard response.status == .ok else { throw HarnessError.status(response.status, String(buffer: response.body)) }
            return try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
        }
    }

    /// Registers `username` and logs a device in; returns its token.
    func account(_ username: String, deviceID: String = UUID().uuidString.lowercased(), password: String = "correct horse") async throws -> String {
        let registered = try await json(.post, "/v1/accounts", ["username": username, "password": password])
        if registered.status != .created && registered.status != .conflict { throw HarnessError.status(registered.status, "\(registered.body)") }
        let login = try await json(.post, "/v1/sessions", ["username": username, "password": password, "deviceId": deviceID, "deviceName": "test"])
        guard let token = login.body["token"] as? String else { throw HarnessError.status(login.status, "\(login.body)") }
        return token
    }
}

enum HarnessError: Error { case status(HTTPResponse.Status, String) }

/// A sync transport that goes through the real router in-process, as the CLI's HTTP client would over the network:
/// plain JSON objects through Foundation's Codable (the simplest client there is), or, when `compact`, as `study`
/// sends to a server that reads them: the column form, compressed both ways.
struct RouterTransport: SyncTransport {
    let client: any TestClientProtocol
    let token: String
    var compact = false

    func sync(_ request: SyncRequest) async throws -> SyncResponse {
        guard compact else { return try await client.decoded(SyncResponse.self, .post, "/v1/sync", token: token, request) }
        var request = request
        request.resultRuns = true
        request.pullColumns = true
        let body = try #require(ContentCoding.compress(request.wireJSON(columns: true)))
        let headers: HTTPFields = [
            .contentType: "application/json", .authorization: "Bearer \(token)", .contentEncoding: "zstd", .acceptEncoding: "zstd",
        ]
        let pushed = request.attempts
        return try await client.execute(uri: "/v1/sync", method: .post, headers: headers, body: ByteBuffer(bytes: body)) { response in
            guard response.status == .ok else { throw HarnessError.status(response.status, String(buffer: response.body)) }
            var bytes = Array(response.body.readableBytesView)
            if response.headers[.contentEncoding] == "zstd" { bytes = try ContentCoding.decompress(bytes, limit: 1 << 30) }
            return try SyncResponse(wireJSON: bytes, pushed: pushed)
        }
    }
}

/// A temporary directory removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let url: URL
    init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("studysync-srvtest-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
}
