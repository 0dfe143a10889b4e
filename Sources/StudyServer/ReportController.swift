import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// Instructor reports on a team: its learners, one learner, its questions. Its instructors (and admins) only.
struct ReportController<Repository: TeamRepository & UserRepository>: TeamScopedController {
    let repository: Repository
    let clock: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get("teams/:team/reports/learners") { _, context in try await learnerReport(context) }
        group.get("teams/:team/reports/learners/:username") { _, context in try await learnerDetail(context) }
        group.get("teams/:team/reports/questions") { request, context in try await questionReport(request, context) }
    }

    func learnerReport(_ context: AppContext) async throws -> LearnerReportView {
        let (team, _) = try await access(context, need: .instructor)
        return LearnerReportView(teamId: team.id, learners: try await repository.learnerReport(teamID: team.id, userID: nil, at: clock()))
    }

    func learnerDetail(_ context: AppContext) async throws -> LearnerDetailView {
        let (team, _) = try await access(context, need: .instructor)
        let username = try context.parameters.require("username")
        guard AccountRules.usernameProblem(username) == nil, let user = try await repository.user(named: username),
            let learner = try await repository.learnerReport(teamID: team.id, userID: user.id, at: clock()).first
        else {
            throw APIError.notFound("Team \(team.id) has no learner '\(username)'; 'study team members' lists them.")
        }
        return LearnerDetailView(
            teamId: team.id, learner: learner, weakQuestions: try await repository.weakQuestions(userID: learner.userID, limit: 10),
            recent: try await repository.recentAttempts(userID: learner.userID, limit: 50).map(\.attempt))
    }

    func questionReport(_ request: Request, _ context: AppContext) async throws -> QuestionReportView {
        let (team, _) = try await access(context, need: .instructor)
        let query = request.uri.queryParameters
        let mode = query.get("attempts") ?? "first"
        guard mode == "first" || mode == "all" else { throw APIError.badRequest("attempts is 'first' (each learner's first attempt) or 'all'.") }
        if let deck = query.get("deck"), !Attempt.isIdentifier(deck) {
            throw APIError(.badRequest, "invalid_field", "deck is a deck id: 'study deck list' shows them.", field: "deck")
        }
        let rows = try await repository.questionReport(teamID: team.id, deckID: query.get("deck"), firstAttemptsOnly: mode == "first")
        if let deck = query.get("deck"), rows.isEmpty {
            throw APIError.notFound("Deck '\(deck)' is not published to team \(team.id); 'study deck list' shows deck ids.")
        }
        return QuestionReportView(teamId: team.id, attempts: mode, questions: rows)
    }
}
