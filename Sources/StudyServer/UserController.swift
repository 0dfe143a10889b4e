import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// Users' server roles, which admins give.
struct UserController<Repository: UserRepository> {
    let repository: Repository
    let clock: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.put("users/:username/role") { request, context in try await setRole(request, context) }
    }

    func setRole(_ request: Request, _ context: AppContext) async throws -> RoleView {
        let identity = try context.requireIdentity()
        guard identity.user.role == .admin else { throw APIError.forbidden("Only an admin gives roles.") }
        let body = try await decode(SetRoleRequest.self, request, context)
        guard let role = Role(rawValue: body.role) else { throw APIError.badRequest("A role is learner, instructor or admin.") }
        let username = try context.parameters.require("username")
        guard AccountRules.usernameProblem(username) == nil, let user = try await repository.setRole(username: username, role: role) else {
            throw APIError.notFound("There is no user '\(username)'.")
        }
        return RoleView(username: user.username, role: user.role.rawValue)
    }
}
