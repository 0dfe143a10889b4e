import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// Teams and membership (PROTOCOL.md, "Teams"): instructors and admins create teams; anyone logged in lists their
/// own teams and joins with a code; a team's members see it and may leave; its instructors (and admins) list its members.
/// Someone outside a team gets 404, as if it did not exist.
struct TeamController<Repository: TeamRepository>: TeamScopedController {
    let repository: Repository
    let bundledDeckIDs: [String]
    let clock: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.post("teams") { request, context in try await create(request, context) }
        group.get("teams") { _, context in try await list(context) }
        group.post("teams/join") { request, context in try await join(request, context) }
        group.get("teams/:team") { _, context in try await show(context) }
        group.delete("teams/:team/membership") { _, context in try await leave(context) }
        group.get("teams/:team/members") { _, context in try await members(context) }
    }

    func create(_ request: Request, _ context: AppContext) async throws -> EditedResponse<TeamView> {
        let identity = try context.requireIdentity()
        guard identity.user.role != .learner else {
            throw APIError.forbidden("Only instructors and admins create teams; ask your server's admin to make you an instructor.")
        }
        let body = try await decode(CreateTeamRequest.self, request, context)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = TextRule.problem(name, field: "name", characters: 1...100) {
            throw APIError(.badRequest, "invalid_field", problem, field: "name")
        }
        let zone = body.timeZone ?? "UTC"
        guard TextRule.problem(zone, field: "timeZone", characters: 1...64) == nil, try await repository.isKnownTimeZone(zone) else {
            throw APIError.badRequest("'\(zone)' is not a time zone PostgreSQL knows: give an IANA name such as Europe/Paris or America/New_York.")
        }
        let weekStart = body.weekStart ?? 1
        guard (1...7).contains(weekStart) else { throw APIError.badRequest("weekStart is the ISO day the week starts on: 1 (Monday) to 7 (Sunday).") }
        let team = try await repository.createTeam(
            name: name, timeZone: zone, weekStart: weekStart, creatorID: identity.user.id, bundledDeckIDs: bundledDeckIDs, at: clock())
        return EditedResponse(status: .created, response: TeamView(team, role: .instructor))
    }

    func list(_ context: AppContext) async throws -> TeamList {
        let identity = try context.requireIdentity()
        let teams = try await repository.teams(userID: identity.user.id, all: identity.user.role == .admin)
        return TeamList(teams: teams.map { TeamView($0.team, role: $0.role) })
    }

    func show(_ context: AppContext) async throws -> TeamView {
        let (team, role) = try await access(context, need: .member)
        return TeamView(team, role: role)
    }

    func join(_ request: Request, _ context: AppContext) async throws -> TeamView {
        let identity = try context.requireIdentity()
        let body = try await decode(JoinRequest.self, request, context)
        switch try await repository.join(codeHash: Tokens.hash(body.code.trimmingCharacters(in: .whitespaces)), userID: identity.user.id, at: clock())
        {
        case .joined(let team, let role), .alreadyMember(let team, let role): return TeamView(team, role: role)
        case .unknownCode:
            throw APIError(.notFound, "unknown_invite", "There is no invite with this code: check it, or ask your instructor for a new one.")
        case .expired: throw APIError(.gone, "invite_expired", "This invite has expired: ask your instructor for a new one.")
        case .usedUp:
            throw APIError(.gone, "invite_used_up", "This invite has been used as many times as it allows: ask your instructor for a new one.")
        }
    }

    func leave(_ context: AppContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let teamID = try teamParameter(context)
        guard try await repository.leave(teamID: teamID, userID: identity.user.id) else {
            throw APIError.notFound("You are not in team \(teamID); 'study team list' shows your teams.")
        }
        return Response(status: .noContent)
    }

    func members(_ context: AppContext) async throws -> MemberList {
        let (team, _) = try await access(context, need: .instructor)
        return MemberList(members: try await repository.members(teamID: team.id))
    }
}
