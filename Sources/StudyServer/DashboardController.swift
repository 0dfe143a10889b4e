import Foundation
import HTTPTypes
import Hummingbird
import StudyCore
import StudyStorage

/// The web dashboard (issue 22): server-rendered pages for learners and instructors, with no script. The same
/// permission rule as the API (`TeamAccess`): a team's board for its members, its reports for its instructors, and for
/// anyone outside the team a 404, as if it did not exist. Signed out, a page sends the browser to the sign-in page.
struct DashboardController<Repository: UserRepository & TeamRepository & ProgressRepository & DashboardRepository>: TeamScopedController {
    let repository: Repository
    let configuration: ServerConfiguration
    let templates: DashboardTemplates
    /// The API's login check and limits: a password guessed on the page counts against the same limits as one sent to
    /// the API.
    let credentials: PasswordCheck<Repository>
    let bundledDeckIDs: [String]
    let clock: @Sendable () -> Int64

    static var day: Int64 { 86_400_000 }
    static var sessionLifetimeMs: Int64 { 7 * day }

    func addRoutes(to router: Router<AppContext>) {
        router.get("static/style.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: templates.stylesheet)))
        }
        let pages = router.group().add(middleware: DashboardResponseMiddleware(templates: templates))
            .add(middleware: DashboardSessionMiddleware(repository: repository, clock: clock))
        pages.get("signin") { request, context in try await signInPage(request, context) }
        pages.post("signin") { request, context in try await signIn(request, context) }
        pages.post("signout") { request, context in try await signOut(request, context) }
        pages.get("/") { request, context in try await home(request, context) }
        pages.get("teams/:team") { request, context in try await teamBoard(request, context) }
        pages.get("teams/:team/learners") { request, context in try await learners(request, context) }
        pages.get("teams/:team/learners/:username") { request, context in try await learner(request, context) }
        pages.get("teams/:team/questions") { request, context in try await questions(request, context) }
    }

    // MARK: Signing in and out

    struct SignInPage {
        let frame: Frame
        let token: String
        let next: String
        let username: String
        let error: String?
    }

    func signInPage(_ request: Request, _ context: AppContext) async throws -> Response {
        let next = Dashboard.localPath(request.uri.queryParameters.get("next"))
        if context.webSignIn != nil { return redirect(next) }
        return signInForm(request, context, next: next, username: "", error: nil, status: .ok)
    }

    private func signInForm(_ request: Request, _ context: AppContext, next: String, username: String, error: String?, status: HTTPResponse.Status)
        -> Response
    {
        let token = Tokens.generate(bytes: 24)
        var response = templates.page(
            "signin", SignInPage(frame: Frame(title: "Sign in", signIn: nil), token: token, next: next, username: username, error: error),
            status: status)
        response.setCookie(
            Dashboard.cookie(Dashboard.signInCookie, token, maxAge: 3_600, path: "/signin", secure: secure(request, context)))
        return response
    }

    func signIn(_ request: Request, _ context: AppContext) async throws -> Response {
        let form = try await Dashboard.form(request)
        let next = Dashboard.localPath(form["next"])
        let username = String((form["username"] ?? "").trimmingCharacters(in: .whitespaces).prefix(64))
        guard let expected = request.cookies[Dashboard.signInCookie]?.value, let sent = form["token"], Dashboard.same(expected, sent) else {
            return signInForm(
                request, context, next: next, username: username,
                error: "This sign-in form has expired or came from another page: sign in again with this one.", status: .forbidden)
        }
        // Longer than any password an account can have (72 bytes): never right, whatever bcrypt would make of it.
        let password = (form["password"] ?? "").utf8.count > 72 ? "" : form["password"] ?? ""
        let now = clock()
        let address = context.clientAddress(request, trusting: configuration.trustedProxies)
        let user: UserRecord
        switch try await credentials.check(username: username, password: password, address: address, now: now) {
        case .throttled(let wait):
            var response = signInForm(
                request, context, next: next, username: username, error: "Too many failed sign-ins: wait \(wait) seconds and try again.",
                status: .tooManyRequests)
            response.headers[.retryAfter] = String(wait)
            return response
        case .wrong:
            return signInForm(
                request, context, next: next, username: username, error: "The username or password is wrong.", status: .unauthorized)
        case .disabled:
            return signInForm(
                request, context, next: next, username: username, error: "This account is disabled: ask the server's administrator.",
                status: .forbidden)
        case .passed(let passed): user = passed
        }
        let token = Tokens.generate()
        try await repository.createWebSession(tokenHash: Tokens.hash(token), userID: user.id, expiresAt: now + Self.sessionLifetimeMs, at: now)
        var response = redirect(next)
        let secure = secure(request, context)
        response.setCookie(Dashboard.cookie(Dashboard.sessionCookie, token, maxAge: Int(Self.sessionLifetimeMs / 1000), secure: secure))
        response.setCookie(Dashboard.cookie(Dashboard.signInCookie, "", maxAge: 0, path: "/signin", secure: secure))
        return response
    }

    func signOut(_ request: Request, _ context: AppContext) async throws -> Response {
        let form = try await Dashboard.form(request)
        guard let signIn = context.webSignIn else { return redirect("/signin") }
        guard let sent = form["csrf"], Dashboard.same(sent, signIn.csrf) else {
            throw APIError.forbidden("This form came from another page or an old one: go back, reload the page, and try again.")
        }
        if form["everywhere"] == "1" {
            try await repository.revokeWebSessions(userID: signIn.user.id, at: clock())
        } else {
            try await repository.revokeWebSession(tokenHash: signIn.tokenHash, at: clock())
        }
        var response = redirect("/signin")
        response.setCookie(Dashboard.cookie(Dashboard.sessionCookie, "", maxAge: 0, secure: secure(request, context)))
        return response
    }

    // MARK: A learner's home

    struct HomePage {
        let frame: Frame
        let greeting: String
        let decks: [DeckRow]
        let zone: String
        let answersChart: String
        let answerDays: [DayRow]
        let answeredInWindow: Int
        let dueChart: String
        let dueDays: [DayRow]
        let dueNow: Int
        let dueInWindow: Int
        let teams: [TeamCard]
    }

    struct DeckRow {
        let name: String
        let questions: Int
        let answered: Int
        let attempts: Int
        let accuracy: String
        let mastered: Int
        let due: Int
    }

    struct DayRow {
        let day: String
        let count: Int
        let accuracy: String
    }

    struct TeamCard {
        let id: Int64
        let name: String
        let role: String
        let isInstructor: Bool
        let rows: [BoardRow]
    }

    func home(_ request: Request, _ context: AppContext) async throws -> Response {
        guard let signIn = context.webSignIn else { return signInRedirect(request) }
        let user = signIn.user
        let now = clock()
        let teams = try await repository.teams(userID: user.id, all: false)
        let zone = teams.first?.team.timeZone ?? "UTC"
        let progress = try await repository.progress(userID: user.id)
        let byQuestion = Dictionary(progress.map { ($0.questionID, $0) }, uniquingKeysWith: { a, _ in a })

        var deckIDs = bundledDeckIDs
        for published in try await repository.publishedDecks(userID: user.id) where !deckIDs.contains(published.deckID) {
            deckIDs.append(published.deckID)
        }
        var decks: [DeckRow] = []
        for id in deckIDs {
            guard let deck = try await repository.deck(id: id) else { continue }
            let known = Set(deck.questions.map(\.id)).compactMap { byQuestion[$0] }.filter { $0.attempts > 0 }
            let attempts = known.map(\.attempts).reduce(0, +)
            let correct = known.map(\.correctAttempts).reduce(0, +)
            decks.append(
                DeckRow(
                    name: deck.name, questions: deck.questions.count, answered: known.count, attempts: attempts,
                    accuracy: Self.percent(attempts > 0 ? Double(correct) / Double(attempts) : nil), mastered: known.filter(\.isMastered).count,
                    due: known.filter { $0.isDue(at: now) }.count))
        }

        let days = DayGrid(zone: zone, now: now)
        let answered = try await repository.answersByDay(userID: user.id, timeZone: zone, from: days.start(back: 29), until: days.start(back: -1))
        let (answersChart, answerDays) = answersChart(id: "answers", who: "your", days: days, answered: answered)

        var due = [Int](repeating: 0, count: 30)
        for item in progress where item.attempts > 0 {
            guard let when = item.card.due else { continue }
            let index = max(0, days.index(of: when))
            if index < 30 { due[index] += 1 }
        }
        let dueLabels = (0..<30).map { days.label(back: -$0) }
        let dueChart = Chart.columns(
            id: "due", title: "Questions falling due in the next 30 days",
            description: "\(due[0]) due today (overdue included), \(due.reduce(0, +)) in the next 30 days; the table below lists each day.",
            bars: (0..<30).map {
                Chart.Bar(label: String(dueLabels[$0].dropFirst(5)), value: Double(due[$0]), note: "\(dueLabels[$0]): \(due[$0]) due")
            })

        var cards: [TeamCard] = []
        for (team, role) in teams {
            let board = try await repository.leaderboard(
                teamID: team.id, window: .week, offset: 0, callerID: user.id, showEveryone: role == .instructor || user.role == .admin, limit: 5,
                at: now)
            cards.append(
                TeamCard(
                    id: team.id, name: team.name, role: role?.rawValue ?? "", isInstructor: role == .instructor, rows: board.rows.map(BoardRow.init)))
        }
        return templates.page(
            "home",
            HomePage(
                frame: Frame(title: "Home", signIn: signIn), greeting: user.displayName, decks: decks, zone: zone, answersChart: answersChart,
                answerDays: answerDays.filter { $0.count > 0 }, answeredInWindow: answered.map(\.attempts).reduce(0, +), dueChart: dueChart,
                dueDays: (0..<30).filter { due[$0] > 0 }.map { DayRow(day: dueLabels[$0], count: due[$0], accuracy: "") }, dueNow: due[0],
                dueInWindow: due.reduce(0, +), teams: cards))
    }

    /// The chart of answers and accuracy per day over the last 30 days, and its rows.
    private func answersChart(id: String, who: String, days: DayGrid, answered: [DailyAnswers]) -> (String, [DayRow]) {
        let byDay = Dictionary(answered.map { ($0.day, $0) }, uniquingKeysWith: { a, _ in a })
        let labels = (0..<30).map { days.label(back: 29 - $0) }
        let rows = labels.map { day in
            let answers = byDay[day]
            return DayRow(
                day: day, count: answers?.attempts ?? 0,
                accuracy: Self.percent(answers.flatMap { $0.attempts > 0 ? Double($0.correct) / Double($0.attempts) : nil }))
        }
        let total = answered.map(\.attempts).reduce(0, +)
        let correct = answered.map(\.correct).reduce(0, +)
        let chart = Chart.columns(
            id: id, title: "Answers and accuracy per day, last 30 days (\(days.zone))",
            description:
                "\(total) answers on \(answered.count) of the last 30 days, \(Self.percent(total > 0 ? Double(correct) / Double(total) : nil)) right; "
                + "bars are \(who) answers per day, points the share answered right. The table below lists each day.",
            bars: labels.map { day in
                let count = byDay[day]?.attempts ?? 0
                return Chart.Bar(label: String(day.dropFirst(5)), value: Double(count), note: "\(day): \(count) answers")
            },
            percentages: labels.map { day in byDay[day].flatMap { $0.attempts > 0 ? Double($0.correct) / Double($0.attempts) : nil } },
            percentLabel: "right")
        return (chart, rows)
    }

    // MARK: A team's board

    struct BoardRow {
        let rank: Int
        let displayName: String
        let points: Int
        let answered: Int
        let accuracy: String
        let streak: Int
        let mastered: Int
        let you: Bool

        init(_ row: LeaderboardRow) {
            rank = row.rank
            displayName = row.displayName
            points = row.points
            answered = row.answered
            accuracy = DashboardController.percent(row.accuracy)
            streak = row.streak
            mastered = row.mastered
            you = row.isCaller
        }
    }

    struct TeamHeader {
        let id: Int64
        let name: String
        let zone: String
        let isInstructor: Bool
        let onBoard: Bool
        let onLearners: Bool
        let onQuestions: Bool
    }

    struct Tab {
        let label: String
        let href: String
        let current: Bool
    }

    struct BoardPage {
        let frame: Frame
        let team: TeamHeader
        let tabs: [Tab]
        let period: String
        let rows: [BoardRow]
        let csv: String
    }

    func teamBoard(_ request: Request, _ context: AppContext) async throws -> Response {
        guard let signIn = context.webSignIn else { return signInRedirect(request) }
        let (team, role) = try await access(signIn, context, need: .member)
        let query = request.uri.queryParameters
        guard let window = LeaderboardWindow(rawValue: query.get("window") ?? "week") else {
            throw APIError.badRequest("The board's window is week, month or all.")
        }
        let instructor = role == .instructor || signIn.user.role == .admin
        let board = try await repository.leaderboard(
            teamID: team.id, window: window, offset: 0, callerID: signIn.user.id, showEveryone: instructor, limit: 1_000, at: clock())
        if query.get("format") == "csv" {
            return CSV.response(
                filename: "team-\(team.id)-leaderboard-\(window.rawValue).csv",
                header: ["rank", "display_name", "points", "answered", "correct", "accuracy", "streak", "mastered"],
                rows: board.rows.map {
                    [
                        "\($0.rank)", $0.displayName, "\($0.points)", "\($0.answered)", "\($0.correct)", $0.accuracy.map { String($0) } ?? "",
                        "\($0.streak)",
                        "\($0.mastered)",
                    ]
                })
        }
        let period =
            if let from = board.from, let until = board.until {
                "\(window == .week ? "This week" : "This month"): \(from) to \(DayGrid.dayBefore(until)) (\(team.timeZone))"
            } else { "All time" }
        let tabs = LeaderboardWindow.allCases.map { w in
            Tab(label: w == .all ? "All time" : "This \(w.rawValue)", href: "/teams/\(team.id)?window=\(w.rawValue)", current: w == window)
        }
        return templates.page(
            "team",
            BoardPage(
                frame: Frame(title: "\(team.name): leaderboard", signIn: signIn), team: header(team, instructor: instructor, section: "board"),
                tabs: tabs, period: period, rows: board.rows.map(BoardRow.init), csv: "/teams/\(team.id)?window=\(window.rawValue)&format=csv"))
    }

    // MARK: The learners report

    struct LearnerRow {
        let displayName: String
        let username: String
        let href: String
        let questionsAttempted: Int
        let attempts: Int
        let accuracy: String
        let mastered: Int
        let due: Int
        let streak: Int
        let lastActive: String
        let stale: Bool
        let staleText: String
    }

    struct WeekRow {
        let week: String
        let learners: Int
        let count: Int
        let accuracy: String
    }

    struct Column {
        let label: String
        let href: String
        let sorted: String
    }

    struct LearnersPage {
        let frame: Frame
        let team: TeamHeader
        let inactiveDays: Int
        let total: Int
        let stale: [LearnerRow]
        let staleCount: Int
        let hasStale: Bool
        let weeksChart: String
        let weeks: [WeekRow]
        let columns: [Column]
        let rows: [LearnerRow]
        let csv: String
    }

    static var learnerSorts: [(key: String, label: String)] {
        [
            ("name", "Learner"), ("questions", "Questions"), ("attempts", "Answers"), ("accuracy", "Accuracy"), ("mastered", "Mastered"),
            ("due", "Due"), ("streak", "Streak"), ("last", "Last studied"),
        ]
    }

    func learners(_ request: Request, _ context: AppContext) async throws -> Response {
        guard let signIn = context.webSignIn else { return signInRedirect(request) }
        let (team, _) = try await access(signIn, context, need: .instructor)
        let query = request.uri.queryParameters
        let inactiveDays = try queryInteger(query.get("inactive"), name: "inactive", in: 1...365, default: 7)
        let sort = query.get("sort") ?? "last"
        guard Self.learnerSorts.contains(where: { $0.key == sort }) else {
            throw APIError.badRequest("The learners can be sorted by \(Self.learnerSorts.map(\.key).joined(separator: ", ")).")
        }
        let descending = query.get("dir") == "desc"
        let now = clock()
        let report = try await repository.learnerReport(teamID: team.id, userID: nil, at: now)
        if query.get("format") == "csv" {
            return CSV.response(
                filename: "team-\(team.id)-learners.csv",
                header: [
                    "username", "display_name", "questions_attempted", "attempts", "accuracy", "mastered", "due", "streak", "last_active_at",
                    "days_since_active",
                ],
                rows: report.map { r in
                    [
                        r.username, r.displayName, "\(r.questionsAttempted)", "\(r.attempts)", r.accuracy.map { String($0) } ?? "", "\(r.mastered)",
                        "\(r.due)", "\(r.streak)", r.lastActiveAt.map { DayGrid.isoTime($0) } ?? "",
                        r.lastActiveAt.map { "\(max(0, (now - $0) / Self.day))" } ?? "",
                    ]
                })
        }
        // Ties keep the name order, so the page reads the same on every reload.
        let ascending = report.sorted { $0.displayName.localizedStandardCompare($1.displayName) == .orderedAscending }.sortedStably { a, b in
            switch sort {
            case "name": a.displayName.localizedStandardCompare(b.displayName) == .orderedAscending
            case "questions": a.questionsAttempted < b.questionsAttempted
            case "attempts": a.attempts < b.attempts
            case "accuracy": (a.accuracy ?? -1) < (b.accuracy ?? -1)
            case "mastered": a.mastered < b.mastered
            case "due": a.due < b.due
            case "streak": a.streak < b.streak
            default: (a.lastActiveAt ?? .min) < (b.lastActiveAt ?? .min)
            }
        }
        let rows = (descending ? ascending.reversed() : ascending).map { learnerRow($0, team: team, inactiveDays: inactiveDays, now: now) }
        let columns = Self.learnerSorts.map { key, label in
            let current = key == sort
            return Column(
                label: label, href: "/teams/\(team.id)/learners?sort=\(key)&dir=\(current && !descending ? "desc" : "asc")&inactive=\(inactiveDays)",
                sorted: current ? (descending ? "descending" : "ascending") : "none")
        }
        let stale = rows.filter(\.stale)
        let (weeksChart, weeks) = try await teamWeeks(team, now: now)
        return templates.page(
            "learners",
            LearnersPage(
                frame: Frame(title: "\(team.name): learners", signIn: signIn), team: header(team, instructor: true, section: "learners"),
                inactiveDays: inactiveDays, total: rows.count, stale: stale, staleCount: stale.count,
                hasStale: !stale.isEmpty, weeksChart: weeksChart, weeks: weeks, columns: columns, rows: rows,
                csv: "/teams/\(team.id)/learners?format=csv"))
    }

    /// The team week by week, the last 12 weeks (the team's weeks, in its zone): answers and accuracy, and who answered.
    private func teamWeeks(_ team: TeamRecord, now: Int64) async throws -> (String, [WeekRow]) {
        let days = DayGrid(zone: team.timeZone, now: now)
        let intoWeek = days.daysIntoWeek(startingOn: team.weekStart)
        let labels = (0..<12).map { days.label(back: intoWeek + 7 * (11 - $0)) }
        let stored = try await repository.teamWeeks(team: team, fromWeek: labels[0])
        let byWeek = Dictionary(stored.map { ($0.week, $0) }, uniquingKeysWith: { a, _ in a })
        let rows = labels.map { week in
            let w = byWeek[week]
            return WeekRow(
                week: week, learners: w?.learners ?? 0, count: w?.attempts ?? 0,
                accuracy: Self.percent(w.flatMap { $0.attempts > 0 ? Double($0.correct) / Double($0.attempts) : nil }))
        }
        let chart = Chart.columns(
            id: "weeks", title: "The team's answers and accuracy per week, last 12 weeks (\(team.timeZone))",
            description: rows.map { "week of \($0.week): \($0.count) answers, \($0.accuracy) right, \($0.learners) learners" }.joined(separator: "; ")
                + ". Bars are answers, points the share right; the table below lists each week.",
            bars: rows.map {
                Chart.Bar(label: String($0.week.dropFirst(5)), value: Double($0.count), note: "week of \($0.week): \($0.count) answers")
            },
            percentages: labels.map { week in byWeek[week].flatMap { $0.attempts > 0 ? Double($0.correct) / Double($0.attempts) : nil } },
            percentLabel: "right", tick: 2)
        return (chart, rows)
    }

    private func learnerRow(_ r: LearnerReportRow, team: TeamRecord, inactiveDays: Int, now: Int64) -> LearnerRow {
        let idle = r.lastActiveAt.map { max(0, (now - $0) / Self.day) }
        let stale = idle.map { $0 >= inactiveDays } ?? true
        return LearnerRow(
            displayName: r.displayName, username: r.username, href: "/teams/\(team.id)/learners/\(r.username)",
            questionsAttempted: r.questionsAttempted,
            attempts: r.attempts, accuracy: Self.percent(r.accuracy), mastered: r.mastered, due: r.due, streak: r.streak,
            lastActive: r.lastActiveAt.map { DayGrid.localTime($0, zone: team.timeZone) } ?? "never",
            stale: stale, staleText: idle.map { "not studied for \($0) \($0 == 1 ? "day" : "days")" } ?? "never studied")
    }

    // MARK: One learner

    struct WeakRow {
        let prompt: String
        let attempts: Int
        let correct: Int
        let lastAnswered: String
    }

    struct RecentRow {
        let when: String
        let prompt: String
        let chosen: String
        let result: String
        let correct: Bool
        let seconds: String
    }

    struct LearnerPage {
        let frame: Frame
        let team: TeamHeader
        let learner: LearnerRow
        let answersChart: String
        let answerDays: [DayRow]
        let weak: [WeakRow]
        let recent: [RecentRow]
        let csv: String
        let weakCSV: String
    }

    func learner(_ request: Request, _ context: AppContext) async throws -> Response {
        guard let signIn = context.webSignIn else { return signInRedirect(request) }
        let (team, _) = try await access(signIn, context, need: .instructor)
        let username = try context.parameters.require("username")
        let now = clock()
        guard AccountRules.usernameProblem(username) == nil, let user = try await repository.user(named: username),
            let row = try await repository.learnerReport(teamID: team.id, userID: user.id, at: now).first
        else {
            throw APIError.notFound("Team \(team.name) has no learner '\(username)'.")
        }
        if request.uri.queryParameters.get("format") == "csv", request.uri.queryParameters.get("table") == "weak" {
            return CSV.response(
                filename: "team-\(team.id)-\(username)-weak-questions.csv",
                header: ["question_id", "prompt", "attempts", "correct_attempts", "last_answered_at"],
                rows: try await repository.weakQuestions(userID: user.id, limit: 10).map {
                    [$0.questionID, $0.prompt, "\($0.attempts)", "\($0.correctAttempts)", DayGrid.isoTime($0.lastAnsweredAt)]
                })
        }
        // The prompts as the team's decks have them (not another team's deck's).
        let questions = try await repository.questionReport(teamID: team.id, deckID: nil, firstAttemptsOnly: true)
        let prompts = Dictionary(questions.map { ($0.questionID, $0) }, uniquingKeysWith: { a, _ in a })
        let recent = try await repository.recentAttempts(userID: user.id, limit: 50).map(\.attempt)
        if request.uri.queryParameters.get("format") == "csv" {
            return CSV.response(
                filename: "team-\(team.id)-\(username)-recent.csv",
                header: ["answered_at", "question_id", "prompt", "chosen", "correct", "duration_ms"],
                rows: recent.map { a in
                    [
                        DayGrid.isoTime(a.answeredAt), a.questionID, prompts[a.questionID]?.prompt ?? "",
                        a.chosen.map { String($0) }.joined(separator: " "),
                        a.correct ? "true" : "false", "\(a.durationMs)",
                    ]
                })
        }
        let days = DayGrid(zone: team.timeZone, now: now)
        let answered = try await repository.answersByDay(
            userID: user.id, timeZone: team.timeZone, from: days.start(back: 29), until: days.start(back: -1))
        let (chart, answerDays) = answersChart(id: "answers", who: "\(row.displayName)'s", days: days, answered: answered)
        let weak = try await repository.weakQuestions(userID: user.id, limit: 10).map {
            WeakRow(
                prompt: $0.prompt, attempts: $0.attempts, correct: $0.correctAttempts,
                lastAnswered: DayGrid.localTime($0.lastAnsweredAt, zone: team.timeZone))
        }
        return templates.page(
            "learner",
            LearnerPage(
                frame: Frame(title: "\(team.name): \(row.displayName)", signIn: signIn), team: header(team, instructor: true, section: "learners"),
                learner: learnerRow(row, team: team, inactiveDays: 7, now: now), answersChart: chart, answerDays: answerDays.filter { $0.count > 0 },
                weak: weak,
                recent: recent.map { a in
                    RecentRow(
                        when: DayGrid.localTime(a.answeredAt, zone: team.timeZone), prompt: prompts[a.questionID]?.prompt ?? a.questionID,
                        chosen: a.chosen.map(Self.letter).joined(separator: ", "),
                        result: a.correct ? "right" : "wrong", correct: a.correct, seconds: String(format: "%.1f s", Double(a.durationMs) / 1000))
                }, csv: "/teams/\(team.id)/learners/\(username)?format=csv",
                weakCSV: "/teams/\(team.id)/learners/\(username)?format=csv&table=weak"))
    }

    // MARK: The question report

    struct DeckChoice {
        let id: String
        let name: String
        let selected: Bool
    }

    struct OptionRow {
        let letter: String
        let text: String
        let chosen: Int
        let share: String
        let correct: Bool
        let unused: Bool
    }

    struct QuestionRow {
        let anchor: String
        let number: String
        let deck: String
        let prompt: String
        let learners: Int
        let attempts: Int
        let facility: String
        let discrimination: String
        let median: String
        let flags: [String]
        let flagged: Bool
        let optionsChart: String
        let options: [OptionRow]
    }

    struct Legend {
        let flag: String
        let advice: String
    }

    struct QuestionsPage {
        let frame: Frame
        let team: TeamHeader
        let decks: [DeckChoice]
        let allDecks: Bool
        let firstAttempts: Bool
        let mostMissed: QuestionRow?
        let flagged: [QuestionRow]
        let hasFlagged: Bool
        let facilityChart: String
        let discriminationChart: String
        let unanswered: String
        let rows: [QuestionRow]
        let legend: [Legend]
        let minimumLearners: Int
        let csv: String
    }

    func questions(_ request: Request, _ context: AppContext) async throws -> Response {
        guard let signIn = context.webSignIn else { return signInRedirect(request) }
        let (team, _) = try await access(signIn, context, need: .instructor)
        let query = request.uri.queryParameters
        let mode = query.get("attempts") ?? "first"
        guard mode == "first" || mode == "all" else { throw APIError.badRequest("attempts is 'first' (each learner's first answer) or 'all'.") }
        let deckID = query.get("deck").flatMap { $0.isEmpty ? nil : $0 }
        if let deckID, !Attempt.isIdentifier(deckID) { throw APIError.badRequest("deck is a deck id; choose one from the list on the page.") }
        let all = try await repository.questionReport(teamID: team.id, deckID: nil, firstAttemptsOnly: mode == "first")
        var deckNames: [String: String] = [:]
        for id in Set(all.map(\.deckID)) { deckNames[id] = try await repository.deck(id: id)?.name ?? id }
        let report = deckID.map { id in all.filter { $0.deckID == id } } ?? all
        if let deckID, report.isEmpty { throw APIError.notFound("Deck '\(deckID)' is not published to team \(team.name).") }
        if query.get("format") == "csv" {
            return CSV.response(
                filename: "team-\(team.id)-questions.csv",
                header: [
                    "deck_id", "deck", "position", "question_id", "prompt", "learners", "attempts", "facility", "discrimination",
                    "median_duration_ms",
                    "flags", "options",
                ],
                rows: report.map { r in
                    [
                        r.deckID, deckNames[r.deckID] ?? "", "\(r.position + 1)", r.questionID, r.prompt, "\(r.learners)", "\(r.attempts)",
                        r.facility.map { String($0) } ?? "", r.discrimination.map { String($0) } ?? "", r.medianDurationMs.map { String($0) } ?? "",
                        ItemAnalysis.flags(r).map(\.rawValue).joined(separator: "; "),
                        r.options.enumerated().map { i, o in
                            "\(Self.letter(i))\(o.correct ? "*" : ""): \(o.chosen)"
                        }.joined(separator: "; "),
                    ]
                })
        }
        let several = Set(report.map(\.deckID)).count > 1
        let rows = report.map { r -> QuestionRow in
            let number = "Q\(r.position + 1)"
            let anchor = "q-\(r.deckID.prefix(12))-\(r.position + 1)"
            let chosenTotal = r.options.map(\.chosen).reduce(0, +)
            let options = r.options.enumerated().map { i, o in
                OptionRow(
                    letter: Self.letter(i), text: o.text, chosen: o.chosen,
                    share: Self.percent(chosenTotal > 0 ? Double(o.chosen) / Double(chosenTotal) : nil), correct: o.correct,
                    unused: !o.correct && o.chosen == 0)
            }
            let chart = Chart.rows(
                id: "\(anchor)-options", title: "\(number): how often each option was chosen",
                description: options.map { "\($0.letter)\($0.correct ? " (correct)" : ""): \($0.chosen)" }.joined(separator: ", "),
                bars: options.map {
                    Chart.Bar(
                        label: "\($0.letter). \($0.text)", value: Double($0.chosen), note: "\($0.letter): chosen \($0.chosen) times",
                        style: $0.correct ? "good" : ($0.unused ? "warn" : "bar"))
                }, domain: nil, valueText: { String(Int($0)) })
            let flags = ItemAnalysis.flags(r).map(\.rawValue)
            return QuestionRow(
                anchor: anchor, number: several ? "\(number) · \(deckNames[r.deckID] ?? "")" : number, deck: deckNames[r.deckID] ?? r.deckID,
                prompt: r.prompt, learners: r.learners, attempts: r.attempts, facility: Self.percent(r.facility),
                discrimination: r.discrimination.map { String(format: "%+.2f", $0) } ?? "–",
                median: r.medianDurationMs.map { String(format: "%.1f s", $0 / 1000) } ?? "–", flags: flags, flagged: !flags.isEmpty,
                optionsChart: chart, options: options)
        }
        let answered = zip(report, rows).filter { $0.0.facility != nil }
        let mostMissed = answered.min { ($0.0.facility ?? 1, $0.0.position) < ($1.0.facility ?? 1, $1.0.position) }?.1
        // The charts draw the questions someone answered; the others would be rows of nothing.
        let unanswered = report.count - answered.count
        let untouched = unanswered > 0 ? " \(unanswered) \(unanswered == 1 ? "question has" : "questions have") no answers yet and are left out." : ""
        let facilityChart =
            answered.isEmpty
            ? ""
            : Chart.rows(
                id: "facility", title: "Facility: the share of answers that were right, per question",
                description: answered.map { "\($0.1.number) \($0.1.facility)" }.joined(separator: ", ") + "." + untouched,
                bars: answered.map { r, row in
                    Chart.Bar(
                        label: "\(row.number) \(r.prompt)", value: r.facility ?? 0,
                        note: "\(row.number): facility \(row.facility), \(r.learners) learners",
                        style: row.flags.contains(ItemFlag.tooHard.rawValue)
                            ? "bad" : (row.flags.contains(ItemFlag.tooEasy.rawValue) ? "warn" : "bar"))
                }, domain: 0...1, valueText: Chart.percent)
        let discriminationChart =
            answered.isEmpty
            ? ""
            : Chart.rows(
                id: "discrimination", title: "Discrimination: how well each question separates strong learners from weak ones (−1 to 1)",
                description: answered.map { "\($0.1.number) \($0.1.discrimination)" }.joined(separator: ", ") + "." + untouched,
                bars: answered.map { r, row in
                    Chart.Bar(
                        label: "\(row.number) \(r.prompt)", value: r.discrimination ?? 0, note: "\(row.number): discrimination \(row.discrimination)",
                        style: (r.discrimination ?? 0) < 0 ? "bad" : "bar", text: r.discrimination == nil ? "–" : nil)
                }, domain: -1...1, valueText: { String(format: "%+.1f", $0) })
        let choices = deckNames.sorted { $0.value < $1.value }.map { DeckChoice(id: $0.key, name: $0.value, selected: $0.key == deckID) }
        var csv = "/teams/\(team.id)/questions?attempts=\(mode)&format=csv"
        if let deckID { csv += "&deck=\(deckID)" }
        return templates.page(
            "questions",
            QuestionsPage(
                frame: Frame(title: "\(team.name): questions", signIn: signIn), team: header(team, instructor: true, section: "questions"),
                decks: choices, allDecks: deckID == nil, firstAttempts: mode == "first", mostMissed: mostMissed, flagged: rows.filter(\.flagged),
                hasFlagged: rows.contains(where: \.flagged),
                facilityChart: facilityChart, discriminationChart: discriminationChart, unanswered: untouched, rows: rows,
                legend: ItemFlag.allCases.map { Legend(flag: $0.rawValue, advice: $0.advice) }, minimumLearners: ItemAnalysis.minimumLearners,
                csv: csv))
    }

    // MARK: Helpers

    /// The team and the caller's role, under the API's rule (`TeamScopedController.access`), with the page's words.
    private func access(_ signIn: WebSignIn, _ context: AppContext, need: TeamAccess) async throws -> (TeamRecord, TeamRole?) {
        try await access(
            team: Int64(try context.parameters.require("team")), caller: signIn.user, need: need,
            notFound: APIError.notFound("There is no such team among yours; your teams are listed on your home page."),
            forbidden: APIError.forbidden("Only the team's instructors may see its reports."))
    }

    private func header(_ team: TeamRecord, instructor: Bool, section: String) -> TeamHeader {
        TeamHeader(
            id: team.id, name: team.name, zone: team.timeZone, isInstructor: instructor, onBoard: section == "board",
            onLearners: section == "learners",
            onQuestions: section == "questions")
    }

    private func secure(_ request: Request, _ context: AppContext) -> Bool {
        Dashboard.isSecure(request, context, trustedProxies: configuration.trustedProxies)
    }

    private func redirect(_ path: String) -> Response {
        Response(status: .seeOther, headers: [.location: path])
    }

    private func signInRedirect(_ request: Request) -> Response {
        let target = request.uri.string
        let next = Dashboard.localPath(target) == target && target != "/" ? "?next=\(percentEncoded(target))" : ""
        return redirect("/signin\(next)")
    }

    private func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "/"
    }

    /// An option's letter as the quiz shows it (`AnswerInput.letter`); "?" for a position a client made up.
    static func letter(_ index: Int) -> String { (0..<26).contains(index) ? AnswerInput.letter(index) : "?" }

    static func percent(_ value: Double?) -> String { value.map(Chart.percent) ?? "–" }
}

/// Days in a team's zone: today, the days before and after it, their first instants.
struct DayGrid {
    let zone: String
    let calendar: Calendar
    let today: Date

    init(zone: String, now: Int64) {
        self.zone = zone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        self.calendar = calendar
        today = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(now) / 1000))
    }

    /// The first millisecond of the day `back` days before today (negative: after).
    func start(back: Int) -> Int64 {
        Int64((calendar.date(byAdding: .day, value: -back, to: today) ?? today).timeIntervalSince1970 * 1000)
    }

    func label(back: Int) -> String { Self.format(calendar.date(byAdding: .day, value: -back, to: today) ?? today, calendar: calendar) }

    /// Days from the first day of this week (weeks starting on ISO day `isoStart`, 1 Monday … 7 Sunday) to today.
    func daysIntoWeek(startingOn isoStart: Int) -> Int {
        let iso = (calendar.component(.weekday, from: today) + 5) % 7 + 1
        return (iso - isoStart + 7) % 7
    }

    /// How many days after today the instant falls (negative: before).
    func index(of time: Int64) -> Int {
        let day = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(time) / 1000))
        return calendar.dateComponents([.day], from: today, to: day).day ?? 0
    }

    static func format(_ date: Date, calendar: Calendar) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    static func localTime(_ time: Int64, zone: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: Date(timeIntervalSince1970: Double(time) / 1000))
        return String(format: "%04d-%02d-%02d %02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0)
    }

    static func isoTime(_ time: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(time) / 1000))
    }

    /// `yyyy-mm-dd` of the day before one given the same way.
    static func dayBefore(_ day: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])),
            let before = calendar.date(byAdding: .day, value: -1, to: date)
        else { return day }
        return format(before, calendar: calendar)
    }
}

extension Array {
    /// Sorted by `before`, elements it does not order kept in their order.
    fileprivate func sortedStably(by before: (Element, Element) -> Bool) -> [Element] {
        enumerated().sorted { before($0.element, $1.element) || (!before($1.element, $0.element) && $0.offset < $1.offset) }.map(\.element)
    }
}
