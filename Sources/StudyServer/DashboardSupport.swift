import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import StudyCore
import StudyStorage

/// Who is signed in to the dashboard: set by `DashboardSessionMiddleware` from the session cookie.
public struct WebSignIn: Sendable {
    public let user: UserRecord
    let tokenHash: [UInt8]
    /// The token every form of this session carries (`Dashboard.csrfToken`).
    let csrf: String
}

/// The dashboard's cookies and form tokens.
///
/// A session cookie holds 256 random bits; the database keeps only their SHA-256. It is HttpOnly, SameSite=Strict,
/// and Secure when the request came over TLS (through a trusted proxy that says so in `X-Forwarded-Proto`). Every form
/// that changes something carries a CSRF token: for a signed-in session, a hash of the session's token (a page of
/// another site can neither read the cookie nor compute it); for the sign-in form, before any session, the value of a
/// short-lived cookie of its own, which the form must repeat (double submit).
enum Dashboard {
    static let sessionCookie = "studysync_session"
    static let signInCookie = "studysync_signin"

    static func csrfToken(sessionToken: String) -> String {
        Tokens.base64url(SHA256.hash(Array("studysync-csrf\u{0}\(sessionToken)".utf8)))
    }

    /// Compares in time that does not depend on where the two differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Whether the browser reached us over TLS: only a trusted proxy's word counts.
    static func isSecure(_ request: Request, _ context: AppContext, trustedProxies: Set<String>) -> Bool {
        guard let peer = context.remoteAddress, trustedProxies.contains(peer) else { return false }
        return request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased().split(separator: ",").first?.trimmingCharacters(in: .whitespaces)
            == "https"
    }

    static func cookie(_ name: String, _ value: String, maxAge: Int, path: String = "/", secure: Bool) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: path, secure: secure, httpOnly: true, sameSite: .strict)
    }

    /// A form body (`application/x-www-form-urlencoded`) of at most 8 KiB, as its fields; 400 or 413 otherwise.
    static func form(_ request: Request) async throws -> [String: String] {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "This form is sent as application/x-www-form-urlencoded.")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 8_192)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "This form is at most 8 KiB.")
        }
        do {
            return try URLEncodedFormDecoder().decode([String: String].self, from: String(buffer: body))
        } catch {
            throw APIError.badRequest("The form is not valid application/x-www-form-urlencoded.")
        }
    }

    /// Where to go after signing in: a path on this site, or home. Never another site (`//evil.example`, `/\evil`).
    static func localPath(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), next.utf8.count <= 512,
            next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return "/" }
        return next
    }
}

/// Reads the session cookie; sets `webSignIn` for a live session. Lets everyone through: each page decides.
struct DashboardSessionMiddleware<Repository: DashboardRepository>: RouterMiddleware {
    typealias Context = AppContext
    let repository: Repository
    let clock: @Sendable () -> Int64

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) async throws -> Response) async throws -> Response {
        var context = context
        if let token = request.cookies[Dashboard.sessionCookie]?.value, (20...100).contains(token.utf8.count) {
            let hash = Tokens.hash(token)
            if let user = try await repository.webSessionUser(tokenHash: hash, at: clock()) {
                context.webSignIn = WebSignIn(user: user, tokenHash: hash, csrf: Dashboard.csrfToken(sessionToken: token))
            }
        }
        return try await next(request, context)
    }
}

/// The pages' headers (no caching, no framing, no script, nothing from elsewhere) and their errors as pages: an error
/// the API would answer as JSON is shown as a page with the same status and a way back.
struct DashboardResponseMiddleware: RouterMiddleware {
    typealias Context = AppContext
    let templates: DashboardTemplates

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.contentSecurityPolicy, "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        (HTTPField.Name("X-Content-Type-Options")!, "nosniff"), (HTTPField.Name("Referrer-Policy")!, "same-origin"), (.cacheControl, "no-store"),
        (HTTPField.Name("X-Frame-Options")!, "DENY"),
    ]

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let failure = apiError(error, request, context)
            response = templates.page(
                "error",
                ErrorPage(
                    frame: Frame(title: failure.status.reasonPhrase, signIn: context.webSignIn), status: Int(failure.status.code),
                    reason: failure.status.reasonPhrase, message: failure.message), status: failure.status)
            if let wait = failure.retryAfterSeconds { response.headers[.retryAfter] = String(wait) }
        }
        for (name, value) in Self.securityHeaders where response.headers[name] == nil { response.headers[name] = value }
        return response
    }

    private func apiError(_ error: any Error, _ request: Request, _ context: AppContext) -> APIError {
        switch error {
        case let error as APIError: return error
        case let error as HTTPError:
            return APIError(
                error.status, "http_\(error.status.code)", error.status == .notFound ? "There is no such page." : error.status.reasonPhrase)
        case let error as any StorageFailure: return JSONErrorMiddleware<AppContext>.apiError(for: error, request: request, logger: context.logger)
        default:
            context.logger.error("page failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return APIError(.internalServerError, "internal", "The server failed to show this page; the failure was logged. Try again in a minute.")
        }
    }
}

/// The templates (`Dashboard/templates/*.mustache`, package resources), loaded once. Mustache escapes every `{{value}}`
/// for HTML; the templates use `{{{…}}}` only for charts (`Chart`), which escape their own text.
struct DashboardTemplates: Sendable {
    let library: MustacheLibrary
    let stylesheet: String

    static func load() throws -> DashboardTemplates {
        guard let root = Bundle.module.resourceURL?.appendingPathComponent("Dashboard") else {
            throw OperationError("The dashboard's templates are missing from the server's resources: rebuild the server.")
        }
        var library = MustacheLibrary()
        let folder = root.appendingPathComponent("templates")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() where name.hasSuffix(".mustache") {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            try library.register(text, named: String(name.dropLast(".mustache".count)))
        }
        let stylesheet = try String(contentsOf: root.appendingPathComponent("style.css"), encoding: .utf8)
        return DashboardTemplates(library: library, stylesheet: stylesheet)
    }

    func page(_ template: String, _ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(object, withTemplate: template) ?? "<!doctype html><title>Missing page</title><p>The page \(template) is missing."
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// What every page's header needs (`header.mustache`).
struct Frame {
    struct SignedIn {
        let displayName: String
        let username: String
        let csrf: String
    }
    let title: String
    let user: SignedIn?

    init(title: String, signIn: WebSignIn?) {
        self.title = title
        user = signIn.map {
            SignedIn(displayName: $0.user.displayName, username: $0.user.username, csrf: $0.csrf)
        }
    }
}

struct ErrorPage {
    let frame: Frame
    let status: Int
    let reason: String
    let message: String
}

/// Tables as CSV (RFC 4180) for the pages' downloads. A cell that a spreadsheet would run as a formula (=, +, -, @, a
/// tab or a return first) is prefixed with an apostrophe: a display name must not become a formula in the
/// instructor's spreadsheet.
enum CSV {
    static func cell(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first), Double(text) == nil { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func response(filename: String, header: [String], rows: [[String]]) -> Response {
        let text = ([header] + rows).map { $0.map(cell).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(filename)\"",
            ], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
