import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// A team's leaderboard, which its members see, and the caller's choice to be hidden from their peers' boards.
struct LeaderboardController<Repository: TeamRepository>: TeamScopedController {
    let repository: Repository
    let clock: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get("teams/:team/leaderboard") { request, context in try await leaderboard(request, context) }
        group.put("me/leaderboard") { request, context in try await setVisibility(request, context) }
    }

    func leaderboard(_ request: Request, _ context: AppContext) async throws -> BoardView {
        let (team, role) = try await access(context, need: .member)
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        guard let window = LeaderboardWindow(rawValue: query.get("window") ?? "week") else {
            throw APIError.badRequest("window is week, month or all.")
        }
        let offset = try queryInteger(query.get("offset"), name: "offset", in: 0...520, default: 0)
        let limit = try queryInteger(query.get("limit"), name: "limit", in: 1...1_000, default: 10)
        let board = try await repository.leaderboard(
            teamID: team.id, window: window, offset: offset, callerID: identity.user.id,
            showEveryone: role == .instructor || identity.user.role == .admin, limit: limit, at: clock())
        return BoardView(
            teamId: team.id, window: window.rawValue, from: board.from, until: board.until,
            rows: board.rows.map {
                .init(
                    rank: $0.rank, userId: $0.userID, displayName: $0.displayName, points: $0.points, answered: $0.answered, accuracy: $0.accuracy,
                    streak: $0.streak, mastered: $0.mastered, you: $0.isCaller)
            })
    }

    func setVisibility(_ request: Request, _ context: AppContext) async throws -> VisibilityBody {
        let identity = try context.requireIdentity()
        let body = try await decode(VisibilityBody.self, request, context)
        try await repository.setLeaderboardOptOut(userID: identity.user.id, optOut: body.optOut)
        return body
    }
}
