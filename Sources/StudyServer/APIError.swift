import Foundation
import Hummingbird
import Logging
import StudyAPI
import StudyStorage

/// An error that reaches HTTP as `{"error": code, "message": sentence}` with its status. The message says what to do.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var retryAfterSeconds: Int?
    /// The request field at fault (`sessions[2].deckId`), when one is.
    public var field: String?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfterSeconds: Int? = nil, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
        self.field = field
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let requestID = context.logger[metadataKey: RequestIDMiddleware<AppContext>.metadataKey].map { "\($0)" }
        let data = try JSONEncoder().encode(ErrorBody(error: code, message: message, field: field, requestId: requestID))
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let requestID { headers[RequestIDMiddleware<AppContext>.header] = requestID }
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    static let unauthorized = APIError(
        .unauthorized, "unauthorized", "Log in first: send 'Authorization: Bearer TOKEN' with a token from POST /v1/sessions.")
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
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
                throw APIError(
                    .methodNotAllowed, "method_not_allowed", "\(request.uri.path) does not take \(request.method); see GET /v1/openapi.json.")
            default:
                throw APIError(error.status, "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
        } catch let error as any StorageFailure {
            throw Self.apiError(for: error, request: request, logger: context.logger)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            throw APIError(
                .internalServerError, "internal", "The server failed to handle this request; the failure was logged. Try again in a minute.")
        }
    }

    /// Seconds a client is asked to wait while the database is unreachable.
    static var databaseRetryAfterSeconds: Int { 5 }

    /// A database failure as the caller should see it: 503 while the store cannot be reached (a restart, a failover),
    /// 400 for a value it cannot take (a check the handler lacks; logged so that it gets one), else a 500.
    static func apiError(for error: any StorageFailure, request: Request, logger: Logger) -> APIError {
        switch error.failure {
        case .unavailable:
            logger.warning("database unavailable", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return APIError(
                .serviceUnavailable, "database_unavailable", "The server cannot reach its database right now; try again in a few seconds.",
                retryAfterSeconds: databaseRetryAfterSeconds)
        case .invalidValue:
            logger.warning("a request value reached the database unchecked", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return APIError(
                .badRequest, "invalid_value",
                "A value in the request is out of range, malformed or holds a NUL character; see GET /v1/openapi.json for each field's bounds.")
        case .other:
            logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return APIError(
                .internalServerError, "internal", "The server failed to handle this request; the failure was logged. Try again in a minute.")
        }
    }
}
