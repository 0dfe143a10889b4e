import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// Accounts as admins manage them over the API: roles, the account list, disabling, deleting, registration invites
/// (the same actions as `study-server users`, which also needs no running server).
struct UserController<Repository: UserRepository & AccountAdministration> {
    let repository: Repository
    let clock: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.put("users/:username/role") { request, context in try await setRole(request, context) }
        group.get("users") { _, context in try await list(context) }
        group.put("users/:username/disabled") { request, context in try await setDisabled(request, context) }
        group.delete("users/:username") { _, context in try await delete(context) }
        group.post("registration-invites") { request, context in try await invite(request, context) }
    }

    private func requireAdmin(_ context: AppContext, _ what: String) throws -> Identity {
        let identity = try context.requireIdentity()
        guard identity.user.role == .admin else { throw APIError.forbidden("Only an admin \(what).") }
        return identity
    }

    private func username(_ context: AppContext) throws -> String {
        let username = try context.parameters.require("username")
        guard AccountRules.usernameProblem(username) == nil else { throw APIError.notFound("There is no user '\(username.prefix(32))'.") }
        return username
    }

    func setRole(_ request: Request, _ context: AppContext) async throws -> RoleView {
        _ = try requireAdmin(context, "gives roles")
        let body = try await decode(SetRoleRequest.self, request, context)
        guard let role = Role(rawValue: body.role) else { throw APIError.badRequest("A role is learner, instructor or admin.") }
        let username = try username(context)
        guard let user = try await repository.setRole(username: username, role: role) else {
            throw APIError.notFound("There is no user '\(username)'.")
        }
        return RoleView(username: user.username, role: user.role.rawValue)
    }

    func list(_ context: AppContext) async throws -> UserAdminList {
        _ = try requireAdmin(context, "lists accounts")
        return UserAdminList(
            users: try await repository.userSummaries().map {
                UserAdminView(
                    username: $0.user.username, displayName: $0.user.displayName, role: $0.user.role.rawValue, disabled: $0.user.disabledAt != nil,
                    attempts: $0.attempts, devices: $0.devices, lastSeenAt: $0.lastSeenAt, createdAt: $0.user.createdAt)
            })
    }

    func setDisabled(_ request: Request, _ context: AppContext) async throws -> RoleView {
        let identity = try requireAdmin(context, "disables accounts")
        let body = try await decode(SetDisabledRequest.self, request, context)
        let username = try username(context)
        if body.disabled && username == identity.user.username {
            throw APIError(.conflict, "own_account", "An admin cannot disable their own account: ask another admin.")
        }
        guard let user = try await repository.setDisabled(username: username, body.disabled, at: clock()) else {
            throw APIError.notFound("There is no user '\(username)'.")
        }
        return RoleView(username: user.username, role: user.role.rawValue)
    }

    func delete(_ context: AppContext) async throws -> Response {
        let identity = try requireAdmin(context, "deletes accounts")
        let username = try username(context)
        if username == identity.user.username {
            throw APIError(.conflict, "own_account", "An admin cannot delete their own account: ask another admin.")
        }
        guard try await repository.deleteUser(username: username) else { throw APIError.notFound("There is no user '\(username)'.") }
        return Response(status: .noContent)
    }

    func invite(_ request: Request, _ context: AppContext) async throws -> EditedResponse<RegistrationInviteView> {
        let identity = try requireAdmin(context, "makes registration invites")
        let body = try await decode(RegistrationInviteRequest.self, request, context)
        let uses = body.uses ?? 1
        let days = body.days ?? 14
        guard (1...10_000).contains(uses) else { throw APIError(.badRequest, "invalid_field", "uses is 1 to 10000.", field: "uses") }
        guard (1...365).contains(days) else { throw APIError(.badRequest, "invalid_field", "days is 1 to 365.", field: "days") }
        let code = Tokens.inviteCode()
        let now = clock()
        let expiresAt = now + Int64(days) * 86_400_000
        try await repository.createServerInvite(
            codeHash: Tokens.hash(code), maxUses: uses, expiresAt: expiresAt, createdBy: identity.user.id, at: now)
        return EditedResponse(status: .created, response: RegistrationInviteView(code: code, uses: uses, expiresAt: expiresAt))
    }
}
