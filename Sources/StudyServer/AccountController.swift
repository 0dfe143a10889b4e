import Foundation
import Hummingbird
import HummingbirdBcrypt
import NIOPosix
import StudyCore

/// Registration, login (a token per device), logout, and the caller's devices.
struct AccountController<Repository: UserRepository & DeviceRepository> {
    let repository: Repository
    let configuration: ServerConfiguration
    let throttle: LoginThrottle
    let clock: @Sendable () -> Int64
    /// A real bcrypt hash to verify against when the username is unknown, so both failures take the same time.
    let decoyHash: String

    struct RegisterRequest: Decodable { let username: String; let password: String; let displayName: String? }
    struct UserView: ResponseCodable { let id: Int64; let username: String; let displayName: String; let role: String }
    struct LoginRequest: Decodable { let username: String; let password: String; let deviceName: String?; let deviceId: String? }
    struct LoginResponse: ResponseCodable { let token: String; let deviceId: String; let user: UserView; let expiresAt: Int64? }
    struct DeviceView: ResponseCodable {
        let id: String; let name: String; let createdAt: Int64; let lastSeenAt: Int64?; let clockOffsetMs: Int64?; let revokedAt: Int64?; let current: Bool
    }
    struct DeviceList: ResponseCodable { let devices: [DeviceView] }

    func addPublicRoutes(to group: RouterGroup<AppContext>) {
        group.post("accounts") { request, context in try await register(request, context) }
        group.post("sessions") { request, context in try await login(request, context) }
    }

    func addAuthenticatedRoutes(to group: RouterGroup<AppContext>) {
        group.delete("sessions/current") { _, context in try await logout(context) }
        group.get("devices") { _, context in try await devices(context) }
        group.delete("devices/:id") { _, context in try await revoke(context) }
    }

    static func usernameProblem(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_.-")
        guard (3...32).contains(name.count), name.allSatisfy({ allowed.contains($0) }), name.first!.isLetter || name.first!.isNumber else {
            return "A username is 3 to 32 characters: lowercase letters, digits, '_', '.' or '-', starting with a letter or digit."
        }
        return nil
    }

    static func passwordProblem(_ password: String) -> String? {
        guard password.count >= 8, password.utf8.count <= 72 else {
            return "A password is at least 8 characters and at most 72 bytes (bcrypt reads no further)."
        }
        return nil
    }

    func register(_ request: Request, _ context: AppContext) async throws -> EditedResponse<UserView> {
        let body = try await decode(RegisterRequest.self, request, context)
        if let problem = Self.usernameProblem(body.username) { throw APIError(.badRequest, "invalid_username", problem) }
        if let problem = Self.passwordProblem(body.password) { throw APIError(.badRequest, "invalid_password", problem) }
        let displayName = (body.displayName ?? body.username).trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...64).contains(displayName.count) else { throw APIError(.badRequest, "invalid_display_name", "A display name is 1 to 64 characters.") }
        let hash = try await hashPassword(body.password)
        guard let user = try await repository.createAccount(username: body.username, displayName: displayName, passwordHash: hash, at: clock()) else {
            throw APIError(.conflict, "username_taken", "The username '\(body.username)' is taken: choose another.")
        }
        return EditedResponse(status: .created, response: view(user))
    }

    func login(_ request: Request, _ context: AppContext) async throws -> LoginResponse {
        let body = try await decode(LoginRequest.self, request, context)
        let now = clock()
        if let wait = await throttle.retryAfter(username: body.username, address: context.remoteAddress, now: now) {
            throw APIError(.tooManyRequests, "too_many_attempts", "Too many failed logins: wait \(wait) seconds and try again.", retryAfterSeconds: wait)
        }
        let user = try await repository.user(named: body.username)
        let verified = try await verifyPassword(body.password, hash: user?.passwordHash ?? decoyHash)
        guard let user, verified else {
            await throttle.recordFailure(username: body.username, address: context.remoteAddress, now: now)
            throw APIError(.unauthorized, "invalid_credentials", "The username or password is wrong.")
        }
        await throttle.recordSuccess(username: body.username)
        let deviceID = try body.deviceId.map { id in
            guard UUID(uuidString: id) != nil else { throw APIError.badRequest("deviceId must be a UUID.") }
            return id.lowercased()
        } ?? UUID().uuidString.lowercased()
        let existing = try await repository.devices(userID: user.id).first { $0.id == deviceID }
        if existing?.revokedAt != nil {
            throw APIError(.forbidden, "device_revoked", "This device was revoked; log in from a new study home to register a new device.")
        }
        let token = Tokens.generate()
        let expiresAt = configuration.tokenLifetimeMs.map { now + $0 }
        let name = String((body.deviceName ?? "device").prefix(64))
        do {
            _ = try await repository.registerDevice(id: deviceID, userID: user.id, name: name, tokenHash: Tokens.hash(token), expiresAt: expiresAt, at: now)
        } catch RepositoryConflict.deviceOwnedByAnotherUser {
            throw APIError(.conflict, "device_id_taken", "This device id belongs to another account: log in from a new study home.")
        }
        return LoginResponse(token: token, deviceId: deviceID, user: view(user), expiresAt: expiresAt)
    }

    func logout(_ context: AppContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await repository.revokeToken(hash: identity.tokenHash, at: clock())
        return Response(status: .noContent)
    }

    func devices(_ context: AppContext) async throws -> DeviceList {
        let identity = try context.requireIdentity()
        return DeviceList(devices: try await repository.devices(userID: identity.user.id).map { d in
            DeviceView(id: d.id, name: d.name, createdAt: d.createdAt, lastSeenAt: d.lastSeenAt, clockOffsetMs: d.clockOffsetMs, revokedAt: d.revokedAt,
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

    private func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }
}
