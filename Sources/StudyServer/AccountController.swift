import Foundation
import Hummingbird
import HummingbirdBcrypt
import Metrics
import NIOPosix
import StudyAPI
import StudyCore
import StudyStorage

/// Registration, login (a token per device), logout, and the caller's devices.
struct AccountController<Repository: UserRepository & DeviceRepository> {
    let repository: Repository
    let configuration: ServerConfiguration
    /// The login limits and the password check, shared with the dashboard's sign-in.
    let credentials: PasswordCheck<Repository>
    /// Registrations per client address (every one counts; none is forgiven).
    let registrations: LoginThrottle
    let clock: @Sendable () -> Int64

    func addPublicRoutes(to group: RouterGroup<AppContext>) {
        group.post("accounts") { request, context in try await register(request, context) }
        group.post("sessions") { request, context in try await login(request, context) }
    }

    func addAuthenticatedRoutes(to group: RouterGroup<AppContext>) {
        group.delete("sessions/current") { _, context in try await logout(context) }
        group.get("devices") { _, context in try await devices(context) }
        group.delete("devices/:id") { _, context in try await revoke(context) }
    }

    func register(_ request: Request, _ context: AppContext) async throws -> EditedResponse<UserView> {
        let body = try await decode(RegisterRequest.self, request, context)
        var inviteHash: [UInt8]?
        switch configuration.registration {
        case .open: break
        case .closed:
            throw APIError(
                .forbidden, "registration_closed",
                "Registration on this server is closed: ask its administrator to create your account (study-server users add NAME).")
        case .invite:
            guard let code = body.inviteCode?.trimmingCharacters(in: .whitespaces), !code.isEmpty else {
                throw APIError(
                    .forbidden, "invite_required",
                    "Registration on this server is by invitation: ask its administrator for an invite code and register with it (--invite CODE).",
                    field: "inviteCode")
            }
            guard code.utf8.count <= 64 else {
                throw APIError(.badRequest, "invalid_field", "inviteCode is at most 64 characters.", field: "inviteCode")
            }
            inviteHash = Tokens.hash(code)
        }
        if let problem = AccountRules.usernameProblem(body.username) { throw APIError(.badRequest, "invalid_username", problem, field: "username") }
        if let problem = AccountRules.passwordProblem(body.password) { throw APIError(.badRequest, "invalid_password", problem, field: "password") }
        let displayName = (body.displayName ?? body.username).trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = TextRule.problem(displayName, field: "displayName", characters: 1...64) {
            throw APIError(.badRequest, "invalid_display_name", problem, field: "displayName")
        }
        if let wait = try await registrations.admit(
            username: nil, address: context.clientAddress(request, trusting: configuration.trustedProxies), now: clock())
        {
            Counter(label: "studysync_rate_limited_total", dimensions: [("limit", "registration")]).increment()
            throw APIError(
                .tooManyRequests, "too_many_registrations", "Too many accounts were made from this address: wait \(wait) seconds and try again.",
                retryAfterSeconds: wait)
        }
        let hash = try await hashPassword(body.password)
        switch try await repository.createAccount(
            username: body.username, displayName: displayName, passwordHash: hash, inviteCodeHash: inviteHash, at: clock())
        {
        case .created(let user): return EditedResponse(status: .created, response: view(user))
        case .usernameTaken:
            throw APIError(.conflict, "username_taken", "The username '\(body.username)' is taken: choose another.", field: "username")
        case .inviteRefused:
            throw APIError(
                .forbidden, "invite_refused", "That invite code is unknown, expired or used up: ask the server's administrator for a new one.",
                field: "inviteCode")
        }
    }

    func login(_ request: Request, _ context: AppContext) async throws -> LoginResponse {
        let body = try await decode(LoginRequest.self, request, context)
        // Checked before anything is counted or looked up, so that a malformed one costs no bcrypt time.
        let deviceID =
            try body.deviceId.map { id in
                guard UUID(uuidString: id) != nil else { throw APIError(.badRequest, "invalid_field", "deviceId must be a UUID.", field: "deviceId") }
                return id.lowercased()
            } ?? UUID().uuidString.lowercased()
        let name = (body.deviceName ?? "device").trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = TextRule.problem(name, field: "deviceName", characters: 1...64) {
            throw APIError(.badRequest, "invalid_field", problem, field: "deviceName")
        }
        let now = clock()
        let address = context.clientAddress(request, trusting: configuration.trustedProxies)
        let user: UserRecord
        switch try await credentials.check(username: body.username, password: body.password, address: address, now: now) {
        case .throttled(let wait):
            throw APIError(
                .tooManyRequests, "too_many_attempts", "Too many failed logins: wait \(wait) seconds and try again.", retryAfterSeconds: wait)
        case .wrong: throw APIError(.unauthorized, "invalid_credentials", "The username or password is wrong.")
        case .disabled: throw APIError(.forbidden, "account_disabled", "This account is disabled: ask the server's administrator.")
        case .passed(let passed): user = passed
        }
        let existing = try await repository.devices(userID: user.id).first { $0.id == deviceID }
        if existing?.revokedAt != nil {
            throw APIError(.forbidden, "device_revoked", "This device was revoked; log in from a new study home to register a new device.")
        }
        let token = Tokens.bearer(for: user.id)
        let expiresAt = configuration.tokenLifetimeMs.map { now + $0 }
        do {
            _ = try await repository.registerDevice(
                id: deviceID, userID: user.id, name: name, tokenHash: Tokens.hash(token), expiresAt: expiresAt, at: now)
        } catch RepositoryConflict.deviceOwnedByAnotherUser {
            throw APIError(.conflict, "device_id_taken", "This device id belongs to another account: log in from a new study home.")
        }
        return LoginResponse(token: token, deviceId: deviceID, user: view(user), expiresAt: expiresAt)
    }

    func logout(_ context: AppContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await repository.revokeToken(hash: identity.tokenHash, userID: identity.user.id, at: clock())
        return Response(status: .noContent)
    }

    func devices(_ context: AppContext) async throws -> DeviceList {
        let identity = try context.requireIdentity()
        return DeviceList(
            devices: try await repository.devices(userID: identity.user.id).map { d in
                DeviceView(
                    id: d.id, name: d.name, createdAt: d.createdAt, lastSeenAt: d.lastSeenAt, clockOffsetMs: d.clockOffsetMs, revokedAt: d.revokedAt,
                    current: d.id == identity.device.id)
            })
    }

    func revoke(_ context: AppContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("id").lowercased()
        guard UUID(uuidString: id) != nil, try await repository.revokeDevice(id: id, userID: identity.user.id, at: clock()) else {
            throw APIError.notFound("You have no device \(id): 'study devices' lists yours.")
        }
        return Response(status: .noContent)
    }

    private func view(_ user: UserRecord) -> UserView {
        UserView(id: user.id, username: user.username, displayName: user.displayName, role: user.role.rawValue)
    }

    private func hashPassword(_ password: String) async throws -> String {
        let cost = configuration.bcryptCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }
}

/// What a username and a password must be, for registration, login and the routes that name a user.
enum AccountRules {
    static func usernameProblem(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_.-".utf8)
        guard (3...32).contains(name.utf8.count), name.utf8.allSatisfy({ allowed.contains($0) }),
            name.utf8.first.map({ $0 != UInt8(ascii: "_") && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "-") }) == true
        else {
            return "A username is 3 to 32 characters: lowercase letters, digits, '_', '.' or '-', starting with a letter or digit."
        }
        return nil
    }

    static func passwordProblem(_ password: String) -> String? {
        guard password.count >= 8, password.utf8.count <= 72, !password.utf8.contains(0) else {
            return "A password is at least 8 characters and at most 72 bytes (bcrypt reads no further), without NUL characters."
        }
        return nil
    }
}
