import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// A team's invites: its instructors (and admins) make them; the code is shown once and stored hashed.
struct InviteController<Repository: TeamRepository>: TeamScopedController {
    let repository: Repository
    let clock: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.post("teams/:team/invites") { request, context in try await invite(request, context) }
    }

    func invite(_ request: Request, _ context: AppContext) async throws -> EditedResponse<InviteView> {
        let (team, _) = try await access(context, need: .instructor)
        let identity = try context.requireIdentity()
        let body = try await decode(CreateInviteRequest.self, request, context)
        guard let role = TeamRole(rawValue: body.role ?? "member") else { throw APIError.badRequest("An invite's role is 'member' or 'instructor'.") }
        let maxUses = body.maxUses ?? 30
        guard (1...10_000).contains(maxUses) else { throw APIError.badRequest("maxUses is 1 to 10000.") }
        let hours = body.expiresInHours ?? 24 * 7
        guard (1...24 * 90).contains(hours) else { throw APIError.badRequest("expiresInHours is 1 to 2160 (90 days).") }
        let code = Tokens.inviteCode()
        let now = clock()
        let expiresAt = now + Int64(hours) * 3_600_000
        try await repository.createInvite(
            codeHash: Tokens.hash(code), teamID: team.id, role: role, maxUses: maxUses, expiresAt: expiresAt, createdBy: identity.user.id, at: now)
        return EditedResponse(
            status: .created, response: InviteView(code: code, teamId: team.id, role: role.rawValue, maxUses: maxUses, expiresAt: expiresAt))
    }
}
