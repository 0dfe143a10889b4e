import Foundation
import StudyAPI
import StudyCore

/// The server's HTTP API as the CLI uses it. Network failures and 5xx answers are retried with backoff; a 4xx answer
/// becomes a `StoreError` carrying the server's sentence.
public struct ServerAPI: Sendable {
    public let baseURL: URL
    public let token: String?
    let http: HTTPClient
    /// Waits before the second to fifth tries: 7.5 s in all, which outlasts a database failover (about 6 s from the
    /// primary's death to a writable standby in scripts/test-failover).
    var backoff: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)]
    /// What the server said it reads (`GET /v1/meta`): until then, nothing a server of an older version could not.
    var features = Features()

    /// The wire features a server reads beyond plain JSON and the row form (PROTOCOL.md, "Compression" and "The column
    /// form"). Answers are always asked for compressed (`Accept-Encoding`), which any server may ignore.
    public struct Features: Sendable, Equatable {
        /// Request bodies may be zstd-compressed.
        public var compressedRequests = false
        /// Pushed pages may be in the column form, and pulled pages asked for in it.
        public var columns = false
        /// The answer that ends a sync may be asked for the decks published to the learner's teams (`listDecks`).
        public var decksInSync = false

        public init(compressedRequests: Bool = false, columns: Bool = false, decksInSync: Bool = false) {
            self.compressedRequests = compressedRequests
            self.columns = columns
            self.decksInSync = decksInSync
        }

        /// What `meta` says the server reads, and this process can write.
        public init(meta: MetaResponse) {
            compressedRequests = ContentCoding.isAvailable && (meta.contentEncodings ?? []).contains(ContentCoding.zstd)
            columns = (meta.pageForms ?? []).contains("attemptColumns")
            decksInSync = (meta.syncLists ?? []).contains("publishedDecks")
        }
    }

    /// This API, using what the server said it reads.
    public func using(_ features: Features) -> ServerAPI {
        var api = self
        api.features = features
        return api
    }

    /// `caFile`: a PEM file of certificates to trust besides the system's, for a server whose certificate a private CA
    /// signed; without one, `SSL_CERT_FILE` when it is set.
    public init(
        server: String, token: String? = nil, caFile: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        guard let url = URL(string: server), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw StoreError("'\(server)' is not a server URL: give one like http://localhost:8080.")
        }
        baseURL = url
        self.token = token
        http = try HTTPClient(timeoutSeconds: 60, caFile: caFile ?? environment["SSL_CERT_FILE"].flatMap { $0.isEmpty ? nil : $0 })
    }

    // The bodies are the wire types of StudyAPI, which the server uses too; these names are the CLI's for them.
    public typealias Meta = MetaResponse
    public typealias User = UserView
    public typealias Login = LoginResponse
    public typealias Device = DeviceView
    struct Empty: Codable {}

    public func meta() async throws -> Meta { try await call("GET", "v1/meta", body: Empty?.none) }

    public func register(username: String, password: String, displayName: String?, inviteCode: String? = nil) async throws -> User {
        try await call(
            "POST", "v1/accounts", body: RegisterRequest(username: username, password: password, displayName: displayName, inviteCode: inviteCode),
            retry: false)
    }

    public func login(username: String, password: String, deviceID: String, deviceName: String) async throws -> Login {
        try await call(
            "POST", "v1/sessions", body: LoginRequest(username: username, password: password, deviceName: deviceName, deviceId: deviceID),
            retry: false)
    }

    public func logout() async throws { try await send("DELETE", "v1/sessions/current", body: Empty?.none) }

    public func devices() async throws -> [Device] { try await (call("GET", "v1/devices", body: Empty?.none) as DeviceList).devices }

    public func revokeDevice(_ id: String) async throws { try await send("DELETE", "v1/devices/\(id)", body: Empty?.none) }

    /// Sync messages go through their own JSON codec (StudyCore/WireJSON.swift); the JSON is the same as the Codable form.
    public func sync(_ request: SyncRequest) async throws -> SyncResponse {
        // The results come as runs in the page's order, which this reads back into one result per attempt.
        var request = request
        request.resultRuns = true
        request.pullColumns = features.columns
        // Any request that pulls may end the sync; a push of a page among several (`pullLimit` 0) does not.
        request.listDecks = features.decksInSync && request.pullLimit != 0
        // Each try carries its own time: a retry after a stalled answer that resent the first try's clientTime made the
        // server measure the stall as clock offset, and the next answers were stamped that far ahead.
        let first = request.wireJSON(columns: features.columns)
        let started = ContinuousClock.now
        let bytes = try await send("POST", "v1/sync") { attempt in
            guard attempt > 0 else { return first }
            var retry = request
            let elapsed = ContinuousClock.now - started
            retry.clientTime = request.clientTime + elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000
            return retry.wireJSON(columns: features.columns)
        }
        do {
            return try SyncResponse(wireJSON: bytes, pushed: request.attempts)
        } catch {
            throw unreadable("POST", "v1/sync")
        }
    }

    public func progress() async throws -> [QuestionProgress] {
        try await (call("GET", "v1/progress", body: Empty?.none) as ProgressList).progress
    }

    func call<Body: Encodable, Result: Decodable>(
        _ method: String, _ path: String, query: [String: String?] = [:], body: Body?, retry: Bool = true
    ) async throws -> Result {
        let data = try await send(method, path, query: query, body: body, retry: retry)
        do {
            return try JSONDecoder().decode(Result.self, from: Data(data))
        } catch {
            throw unreadable(method, path)
        }
    }

    private func unreadable(_ method: String, _ path: String) -> StoreError {
        StoreError(
            "The server at \(baseURL.absoluteString) answered \(method) /\(path) with something study does not understand; is it a StudySync server of the same version?"
        )
    }

    @discardableResult
    func send<Body: Encodable>(_ method: String, _ path: String, query: [String: String?] = [:], body: Body?, retry: Bool = true) async throws
        -> [UInt8]
    {
        let json = try body.map { [UInt8](try JSONEncoder().encode($0)) }
        return try await send(method, path, query: query, retry: retry, hasBody: json != nil) { _ in json }
    }

    /// Sends the request, retried on a network failure, a 5xx or a 429 when `retry`; `json` makes the body of each try
    /// (numbered from 0).
    private func send(
        _ method: String, _ path: String, query: [String: String?] = [:], retry: Bool = true, hasBody: Bool = true, json: (Int) -> [UInt8]?
    ) async throws -> [UInt8] {
        var url = baseURL.appendingPathComponent(path)
        let items = query.sorted { $0.key < $1.key }.compactMap { key, value in value.map { URLQueryItem(name: key, value: $0) } }
        if !items.isEmpty, var components = URLComponents(url: url, resolvingAgainstBaseURL: false) {
            components.queryItems = items
            url = components.url ?? url
        }
        // Who is asking, and which sync protocol it speaks: a server that cannot serve it says so (426).
        var headers = ["User-Agent: study/\(StudySyncVersion.current)", "\(SyncProtocol.versionHeader): \(SyncProtocol.version)"]
        if let token { headers.append("Authorization: Bearer \(token)") }
        if hasBody { headers.append("Content-Type: application/json") }
        if ContentCoding.isAvailable { headers.append("Accept-Encoding: \(ContentCoding.zstd)") }
        var lastFailure = ""
        for attempt in 0...(retry ? backoff.count : 0) {
            if attempt > 0 { try await Task.sleep(for: backoff[attempt - 1]) }
            var body = json(attempt), tryHeaders = headers
            // A body worth compressing goes compressed to a server that said it reads zstd.
            if features.compressedRequests, let plain = body, plain.count >= ContentCoding.minimumBytes,
                let compressed = ContentCoding.compress(plain)
            {
                body = compressed
                tryHeaders.append("Content-Encoding: \(ContentCoding.zstd)")
            }
            var response: HTTPClient.Response
            do {
                response = try await http.perform(method, url.absoluteString, headers: tryHeaders, body: body)
            } catch let error as HTTPClient.Failure where error.tlsRejected {
                // Trying again would meet the same certificate; the learner has to act.
                throw StoreError(
                    "No secure connection to the server at \(baseURL.host ?? baseURL.absoluteString): \(error.description). "
                        + "If its certificate comes from a private CA, run 'study login' again with --ca-file FILE (that CA's certificate) "
                        + "or set SSL_CERT_FILE. Nothing was sent.")
            } catch let error as HTTPClient.Failure {
                lastFailure = "cannot reach the server at \(baseURL.absoluteString) (\(error.description))"
                continue
            }
            if let encoding = response.contentEncoding, encoding.lowercased() != "identity" {
                guard encoding.lowercased() == ContentCoding.zstd, let plain = try? ContentCoding.decompress(response.body, limit: 1 << 30) else {
                    throw unreadable(method, path)
                }
                response = HTTPClient.Response(status: response.status, body: plain)
            }
            let status = response.status
            if (200..<300).contains(status) { return response.body }
            let message = (try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body)))?.message ?? "HTTP status \(status)"
            if retry && (status >= 500 || status == 429) {
                // The server's sentence ends in its own full stop; the one around it adds another.
                var sentence = message.hasSuffix(".") ? String(message.dropLast()) : message
                if status == 503 && sentence.isEmpty { sentence = "the server is unavailable" }
                lastFailure = "the server answered \(status): \(sentence)"
                continue
            }
            throw ServerError(status: status, message: message)
        }
        throw StoreError(
            "\(path == "v1/sync" ? "Sync stopped" : "Stopped"): \(lastFailure). Nothing was lost; run the command again when the server is reachable."
        )
    }
}

/// A refusal from the server, with its sentence.
public struct ServerError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public var description: String { message }
}
