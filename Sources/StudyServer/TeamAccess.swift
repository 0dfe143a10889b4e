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
        return try await access(
            team: id, caller: identity.user, need: need,
            notFound: APIError.notFound("There is no team \(id) that you belong to; 'study team list' shows yours."),
            forbidden: APIError.forbidden("Only the team's instructors may do this."))
    }

    /// The rule itself, for the API and the dashboard's pages alike: the team and the caller's role in it; `notFound`
    /// when there is no such team or the caller is outside it (an admin never is), `forbidden` for a member where an
    /// instructor is needed.
    func access(team id: Int64?, caller: UserRecord, need: TeamAccess, notFound: APIError, forbidden: APIError) async throws
        -> (TeamRecord, TeamRole?)
    {
        guard let id, let (team, role) = try await repository.team(id: id, roleOf: caller.id) else { throw notFound }
        if caller.role == .admin { return (team, role) }
        guard let role else { throw notFound }
        if need == .instructor && role != .instructor { throw forbidden }
        return (team, role)
    }
}
