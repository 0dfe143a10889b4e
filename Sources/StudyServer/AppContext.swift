import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StudyCore
import StudyStorage

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
    /// Set by `DashboardSessionMiddleware` on the dashboard's pages when the browser is signed in.
    public var webSignIn: WebSignIn?
    /// The client's IP address, for rate limiting.
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        webSignIn = nil
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The address of the client for rate limits: the peer's, or, when the peer is one of `trustedProxies` (a reverse
    /// proxy in front of the server), the nearest address in `X-Forwarded-For` that is not one of them.
    func clientAddress(_ request: Request, trusting trustedProxies: Set<String>) -> String? {
        guard let peer = remoteAddress, trustedProxies.contains(peer) else { return remoteAddress }
        let forwarded = request.headers[values: HTTPField.Name("X-Forwarded-For")!].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // Each proxy appends the address it saw, so the right-most untrusted entry is the client's as far as ours can tell.
        return forwarded.reversed().first { !trustedProxies.contains($0) }.map { String($0.prefix(64)) } ?? peer
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
        let invalid = APIError(
            .unauthorized, "invalid_token", "This token is not valid (revoked, expired or unknown): log in again with 'study login'.")
        let userID: Int64?
        switch Tokens.learner(of: token) {
        case .named(let id): userID = id
        case .unnamed: userID = nil
        case .malformed: throw invalid
        }
        guard let (user, device) = try await repository.authenticate(tokenHash: hash, userID: userID, at: clock()) else { throw invalid }
        var context = context
        context.identity = Identity(user: user, device: device, tokenHash: hash)
        return try await next(request, context)
    }
}
