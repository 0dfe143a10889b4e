import Foundation
import Hummingbird
import StudyAPI
import StudyCore
import StudyStorage

/// Teams, invites, published decks, the leaderboard and instructor reports. Who may call what (README, "Teams,
/// leaderboard and reports"): anyone logged in lists their own teams, joins with a code and sets their own visibility;
/// instructors and admins create teams; a team's members see its leaderboard and decks; its instructors (and admins)
/// invite, publish, list members and read reports. Someone outside a team gets 404, as if it did not exist.
struct TeamController<Repository: TeamRepository & DeckRepository & UserRepository> {
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
        group.post("teams/:team/invites") { request, context in try await invite(request, context) }
        group.post("teams/:team/decks") { request, context in try await publish(request, context) }
        group.get("teams/:team/leaderboard") { request, context in try await leaderboard(request, context) }
        group.get("teams/:team/reports/learners") { _, context in try await learnerReport(context) }
        group.get("teams/:team/reports/learners/:username") { _, context in try await learnerDetail(context) }
        group.get("teams/:team/reports/questions") { request, context in try await questionReport(request, context) }
        group.get("decks") { _, context in try await publishedDecks(context) }
        group.get("decks/:deck") { _, context in try await deck(context) }
        group.put("me/leaderboard") { request, context in try await setVisibility(request, context) }
        group.put("users/:username/role") { request, context in try await setRole(request, context) }
    }

    // MARK: Handlers

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

    static var maxDeckQuestions: Int { 2_000 }
    static var maxPromptCharacters: Int { 4_000 }
    static var maxOptionCharacters: Int { 1_000 }

    func publish(_ request: Request, _ context: AppContext) async throws -> EditedResponse<PublishedView> {
        let (team, _) = try await access(context, need: .instructor)
        let identity = try context.requireIdentity()
        let body = try await decode(PublishDeckRequest.self, request, context, limit: 8 << 20)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = TextRule.problem(name, field: "name", characters: 1...100) {
            throw APIError(.badRequest, "invalid_field", problem, field: "name")
        }
        guard (1...Self.maxDeckQuestions).contains(body.questions.count) else {
            throw APIError(.badRequest, "invalid_field", "A deck has 1 to \(Self.maxDeckQuestions) questions.", field: "questions")
        }
        for (i, q) in body.questions.enumerated() {
            if let problem = TextRule.problem(q.prompt, field: "questions[\(i)].prompt", characters: 1...Self.maxPromptCharacters, multiline: true) {
                throw APIError(.badRequest, "invalid_field", problem, field: "questions[\(i)].prompt")
            }
            for (k, option) in q.options.enumerated() {
                if let problem = TextRule.problem(
                    option, field: "questions[\(i)].options[\(k)]", characters: 1...Self.maxOptionCharacters, multiline: true)
                {
                    throw APIError(.badRequest, "invalid_field", problem, field: "questions[\(i)].options[\(k)]")
                }
            }
            guard !q.prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, (2...10).contains(q.options.count),
                !q.correct.isEmpty, q.correct.allSatisfy({ q.options.indices.contains($0) })
            else {
                throw APIError.badRequest("Question \(i + 1) needs a prompt, 2 to 10 options and at least one correct option among them.")
            }
        }
        let deck = Deck(name: name, questions: body.questions.map { Question(prompt: $0.prompt, options: $0.options, correct: $0.correct) })
        guard Set(deck.questions.map(\.id)).count == deck.questions.count else {
            throw APIError.badRequest("The deck repeats a question; remove the copy.")
        }
        let now = clock()
        try await repository.publishDeck(deck, teamID: team.id, by: identity.user.id, at: now)
        return EditedResponse(
            status: .created, response: PublishedView(deck: PublishedDeck(teamID: team.id, deckID: deck.id, name: deck.name, publishedAt: now)))
    }

    func leaderboard(_ request: Request, _ context: AppContext) async throws -> BoardView {
        let (team, role) = try await access(context, need: .member)
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        guard let window = LeaderboardWindow(rawValue: query.get("window") ?? "week") else {
            throw APIError.badRequest("window is week, month or all.")
        }
        let offset = try integer(query.get("offset"), name: "offset", in: 0...520, default: 0)
        let limit = try integer(query.get("limit"), name: "limit", in: 1...1_000, default: 10)
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

    func publishedDecks(_ context: AppContext) async throws -> DeckList {
        let identity = try context.requireIdentity()
        return DeckList(decks: try await repository.publishedDecks(userID: identity.user.id))
    }

    func deck(_ context: AppContext) async throws -> DeckView {
        let identity = try context.requireIdentity()
        let id = try context.parameters.require("deck")
        guard Attempt.isIdentifier(id) else { throw APIError.notFound("There is no deck \(id.prefix(64)) published to your teams.") }
        var visible = bundledDeckIDs.contains(id) || identity.user.role == .admin
        if !visible { visible = try await repository.publishedDecks(userID: identity.user.id).contains { $0.deckID == id } }
        guard visible, let deck = try await repository.deck(id: id) else {
            throw APIError.notFound("There is no deck \(id) published to your teams.")
        }
        return DeckView(id: deck.id, name: deck.name, questions: deck.questions)
    }

    func setVisibility(_ request: Request, _ context: AppContext) async throws -> VisibilityBody {
        let identity = try context.requireIdentity()
        let body = try await decode(VisibilityBody.self, request, context)
        try await repository.setLeaderboardOptOut(userID: identity.user.id, optOut: body.optOut)
        return body
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

    // MARK: Access

    enum Need { case member, instructor }

    func teamParameter(_ context: AppContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("team")) else {
            throw APIError.notFound("Team ids are numbers; 'study team list' shows yours.")
        }
        return id
    }

    /// The team and the caller's role in it, when the caller may do what `need` asks; 404 for outsiders (admins are
    /// never outsiders), 403 for a member who is not the team's instructor.
    func access(_ context: AppContext, need: Need) async throws -> (TeamRecord, TeamRole?) {
        let identity = try context.requireIdentity()
        let id = try teamParameter(context)
        let notFound = APIError.notFound("There is no team \(id) that you belong to; 'study team list' shows yours.")
        guard let (team, role) = try await repository.team(id: id, roleOf: identity.user.id) else { throw notFound }
        if identity.user.role == .admin { return (team, role) }
        guard let role else { throw notFound }
        if need == .instructor && role != .instructor { throw APIError.forbidden("Only the team's instructors may do this.") }
        return (team, role)
    }

    func integer(_ text: String?, name: String, in range: ClosedRange<Int>, default value: Int) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("\(name) is a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return number
    }
}
