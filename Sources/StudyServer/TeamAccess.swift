import Hummingbird
import StudyCore
import StudyStorage

/// What a team route needs of its caller.
enum TeamAccess { case member, instructor }

/// A controller of routes under `teams/:team`, which share one rule for who may reach a team.
protocol TeamScopedController {
    associatedtype Repository: TeamRepository
    var repository: Repository { get }
}

extension TeamScopedController {
    func teamParameter(_ context: AppContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("team")) else {
            throw APIError.notFound("Team ids are numbers; 'study team list' shows yours.")
        }
        return id
    }

    /// The team and the caller's role in it, when the caller may do what `need` asks; 404 for outsiders (admins are
    /// never outsiders), 403 for a member who is not the team's instructor.
    func access(_ context: AppContext, need: TeamAccess) async throws -> (TeamRecord, TeamRole?) {
        let identity = try context.requireIdentity()
        let id = try teamParameter(context)
        let notFound = APIError.notFound("There is no team \(id) that you belong to; 'study team list' shows yours.")
        guard let (team, role) = try await repository.team(id: id, roleOf: identity.user.id) else { throw notFound }
        if identity.user.role == .admin { return (team, role) }
        guard let role else { throw notFound }
        if need == .instructor && role != .instructor { throw APIError.forbidden("Only the team's instructors may do this.") }
        return (team, role)
    }
}
