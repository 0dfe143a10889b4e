import Foundation
import Hummingbird
import Logging

/// An error that reaches HTTP as `{"error": code, "message": sentence}` with its status. The message says what to do.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(ErrorBody(error: code, message: message))
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "Log in first: send 'Authorization: Bearer TOKEN' with a token from POST /v1/sessions.")
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
}

struct ErrorBody: Codable, Sendable {
    let error: String
    let message: String
}

/// Turns every error into JSON: `APIError`s as they are, Hummingbird's own (unknown route, body too large) with a code
/// and sentence, and anything else into a 500 that reveals nothing and is logged.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                throw APIError(.notFound, "not_found", "There is no \(request.method) \(request.uri.path); see GET /v1/openapi.json for the API.")
            case .contentTooLarge:
                throw APIError(.contentTooLarge, "body_too_large", "The request body is too large; see maxBodyBytes in GET /v1/meta.")
            case .methodNotAllowed:
                throw APIError(.methodNotAllowed, "method_not_allowed", "\(request.uri.path) does not take \(request.method); see GET /v1/openapi.json.")
            default:
                throw APIError(error.status, "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            throw APIError(.internalServerError, "internal", "The server failed to handle this request; the failure was logged. Try again later.")
        }
    }
}
