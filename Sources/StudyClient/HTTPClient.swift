import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// HTTP requests through async-http-client (SwiftNIO, pure Swift): `http` and `https` (the system's CA certificates and,
/// for a server with a private CA, the certificates of a `caFile`; a certificate that does not verify is an error, never
/// a fallback), the `https_proxy`/`http_proxy` variables, connections kept alive between requests. Pure Swift, so `swift run study`
/// builds with no C library beyond SQLite. It replaced a libcurl client, which needed `libcurl4-openssl-dev` to build and
/// was no faster where the bytes are (docs/benchmarks.md, "The CLI's HTTP client").
final class HTTPClient: Sendable {
    /// The answer: the status and the whole body.
    struct Response: Sendable {
        let status: Int
        let body: [UInt8]
        /// The answer's `Content-Encoding`, when it has one.
        var contentEncoding: String? = nil
    }

    /// No answer came: the server could not be reached, or nothing arrived for the read timeout. `tlsRejected`: the TLS
    /// handshake failed (most often a certificate that does not verify), which trying again will not change.
    struct Failure: Error, Sendable, CustomStringConvertible {
        let description: String
        var tlsRejected = false
    }

    let timeoutSeconds: Int
    private let client: AsyncHTTPClient.HTTPClient

    /// `caFile`: a PEM file of certificates trusted besides the system's (a private CA's); it is read here, so a missing
    /// or malformed file is an error at once.
    init(timeoutSeconds: Int = 60, caFile: String? = nil) throws {
        self.timeoutSeconds = timeoutSeconds
        client = try Self.client(caFile: caFile)
    }

    /// One client per CA file for the process, never shut down (each lives as long as the process), on NIO's shared
    /// event loops.
    private static let clients = Mutex<[String: AsyncHTTPClient.HTTPClient]>([:])

    private static func client(caFile: String?) throws -> AsyncHTTPClient.HTTPClient {
        try clients.withLock { clients in
            if let client = clients[caFile ?? ""] { return client }
            var configuration = AsyncHTTPClient.HTTPClient.Configuration()
            configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
            configuration.decompression = .disabled
            configuration.proxy = proxyFromEnvironment()
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile {
                let certificates: [NIOSSLCertificate]
                do {
                    certificates = try NIOSSLCertificate.fromPEMFile(caFile)
                } catch {
                    throw StoreError("Cannot read the CA certificate file \(caFile) (\(error)): give a PEM file of the server's CA certificate.")
                }
                guard !certificates.isEmpty else { throw StoreError("The CA certificate file \(caFile) holds no certificate: give a PEM file.") }
                tls.additionalTrustRoots = [.certificates(certificates)]
            }
            configuration.tlsConfiguration = tls
            let client = AsyncHTTPClient.HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[caFile ?? ""] = client
            return client
        }
    }

    /// `https_proxy` or `http_proxy` (either case), as libcurl and most tools read them; `no_proxy` is not read.
    static func proxyFromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> AsyncHTTPClient.HTTPClient
        .Configuration.Proxy?
    {
        let value = ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
        guard let value, let url = URL(string: value.contains("://") ? value : "http://" + value), let host = url.host else { return nil }
        return .server(host: host, port: url.port ?? 80)
    }

    /// Sends one request and returns the status and body of the answer; throws `Failure` when there is no answer (no
    /// connection, nothing received for `timeoutSeconds`). Cancelling the task aborts the request.
    func perform(_ method: String, _ url: String, headers: [String], body: [UInt8]?) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        for header in headers {
            guard let colon = header.firstIndex(of: ":") else { continue }
            request.headers.add(name: String(header[..<colon]), value: header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(timeoutSeconds) * 10))
            var collected = try await response.body.collect(upTo: 1 << 30)
            return Response(
                status: Int(response.status.code), body: collected.readBytes(length: collected.readableBytes) ?? [],
                contentEncoding: response.headers.first(name: "Content-Encoding"))
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as AsyncHTTPClient.HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch let error as NIOSSLError {
            throw Failure(description: Self.describe(error), tlsRejected: true)
        } catch let error as NIOSSLExtraError {
            throw Failure(description: Self.describe(error), tlsRejected: true)
        } catch {
            throw Failure(description: Self.describe(error))
        }
    }

    /// A short phrase for why no answer came, as a learner would want it.
    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError, case .handshakeFailed(let reason) = error {
            let text = "\(reason)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "its certificate is not signed by a CA this machine trusts, or has expired (CERTIFICATE_VERIFY_FAILED)"
            }
            return "the TLS handshake failed (\(text))"
        }
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return "its certificate is not for this host name: \(error)"
        }
        if let error = error as? AsyncHTTPClient.HTTPClientError {
            switch error {
            case .connectTimeout: return "the connection timed out"
            case .readTimeout, .deadlineExceeded: return "no answer within the time allowed"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}
