import Hummingbird
import NIOCore
import StudyCore

/// Who is calling: the user and device a valid bearer token belongs to.
public struct Identity: Sendable {
    public let user: UserRecord
    public let device: DeviceRecord
    let tokenHash: [UInt8]
}

public struct AppContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthenticationMiddleware` on authenticated routes.
    public var identity: Identity?
    /// The client's IP address, for rate limiting.
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    func requireIdentity() throws -> Identity {
        guard let identity else { throw APIError.unauthorized }
        return identity
    }
}

/// Resolves `Authorization: Bearer TOKEN` to an `Identity`; every route behind it refuses anonymous callers with 401.
struct AuthenticationMiddleware<Repository: DeviceRepository>: RouterMiddleware {
    typealias Context = AppContext
    let repository: Repository
    let clock: @Sendable () -> Int64

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else { throw APIError.unauthorized }
        let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        let hash = Tokens.hash(token)
        guard let (user, device) = try await repository.authenticate(tokenHash: hash, at: clock()) else {
            throw APIError(.unauthorized, "invalid_token", "This token is not valid (revoked, expired or unknown): log in again with 'study login'.")
        }
        var context = context
        context.identity = Identity(user: user, device: device, tokenHash: hash)
        return try await next(request, context)
    }
}
