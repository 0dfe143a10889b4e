import ArgumentParser
import Foundation
import StudyClient
import StudyCore

/// `--team T`: a team id or name; may be left out by someone in exactly one team.
struct TeamOption: ParsableArguments {
    @Option(help: "The team: its id or name (default: your only team).") var team: String?

    func resolve(_ api: ServerAPI) async throws -> ServerAPI.Team {
        let teams = try await api.teams()
        if let team {
            if let id = Int64(team), let found = teams.first(where: { $0.id == id }) { return found }
            let named = teams.filter { $0.name == team }
            if named.count == 1 { return named[0] }
            if named.count > 1 { throw CLIError("Several of your teams are called '\(team)': give its id ('study team list').") }
            throw CLIError("You are in no team '\(team)': 'study team list' shows yours.")
        }
        switch teams.count {
        case 1: return teams[0]
        case 0: throw CLIError("You are in no team yet: join one with 'study team join CODE'.")
        default: throw CLIError("You are in several teams: pick one with --team (ids and names: 'study team list').")
        }
    }
}

struct TeamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "team", abstract: "Create, join and leave teams; invite people; list members.",
        subcommands: [List.self, Create.self, Invite.self, Join.self, Leave.self, Members.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The teams you are in (an admin sees every team).")
        @OptionGroup var options: HomeOptions

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let teams = try await api.teams()
            guard !teams.isEmpty else { return Terminal.say("You are in no team yet: join one with 'study team join CODE'.") }
            Terminal.say(
                Terminal.table(
                    ["id", "team", "your role", "time zone"], teams.map { [String($0.id), $0.name, $0.role ?? "-", $0.timeZone] }, rightAligned: [0]))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team (instructors and admins); you become its instructor.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The team's name.") var name: String
        @Option(help: "An IANA time zone for days, weeks and streaks, like Europe/Paris (default: UTC).") var timeZone: String?
        @Option(help: "The day weeks start on: 1 = Monday … 7 = Sunday (default: 1).") var weekStart: Int?

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let team = try await api.createTeam(name: name, timeZone: timeZone, weekStart: weekStart)
            Terminal.say("Created team '\(team.name)' (id \(team.id), \(team.timeZone)). Invite people with 'study team invite --team \(team.id)'.")
        }
    }

    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an invite code for a team you teach.")
        @OptionGroup var options: HomeOptions
        @OptionGroup var team: TeamOption
        @Option(help: "What the code makes people: member or instructor.") var role = "member"
        @Option(help: "How many people may use the code.") var maxUses = 30
        @Option(help: "Hours until the code expires (at most 2160).") var expiresHours = 168

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let target = try await team.resolve(api)
            let invite = try await api.invite(team: target.id, role: role, maxUses: maxUses, expiresInHours: expiresHours)
            Terminal.say(invite.code)
            Terminal.say(
                "Invite to '\(target.name)' as \(invite.role), for \(invite.maxUses) people, until \(Terminal.time(invite.expiresAt)): 'study team join \(invite.code)'.",
                toError: true)
        }
    }

    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Join a team with an invite code.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The invite code.") var code: String

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let team = try await api.join(code: code)
            Terminal.say("You are in '\(team.name)' (id \(team.id)) as \(team.role ?? "member"). 'study leaderboard' shows the board.")
        }
    }

    struct Leave: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Leave a team.")
        @OptionGroup var options: HomeOptions
        @OptionGroup var team: TeamOption

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let target = try await team.resolve(api)
            try await api.leave(team: target.id)
            Terminal.say("You left '\(target.name)'.")
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a team's members (its instructors and admins).")
        @OptionGroup var options: HomeOptions
        @OptionGroup var team: TeamOption
        @Option(help: "table, csv or json.") var format: OutputFormat = .table

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let members = try await api.members(team: try await team.resolve(api).id)
            if format == .json { return Terminal.say(Terminal.json(members)) }
            Terminal.say(
                render(
                    ["username", "name", "role", "joined"],
                    members.map { [$0.username, $0.displayName, $0.role.rawValue, Terminal.time($0.joinedAt)] }, as: format))
        }
    }
}

struct LeaderboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leaderboard", abstract: "Your team's leaderboard: points are questions answered correctly, once per question per day.")
    @OptionGroup var options: HomeOptions
    @OptionGroup var team: TeamOption
    @Option(help: "week, month or all.") var window = "week"
    @Option(help: "How many weeks or months back (0: the current one).") var back = 0
    @Option(help: "How many rows from the top (your own row is always shown).") var limit = 10
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Hide yourself from your peers' boards from now on.") var optOut = false
    @Flag(help: "Show yourself on your peers' boards again.") var optIn = false

    func run() async throws {
        let (_, _, api) = try loggedIn(options)
        if optOut || optIn {
            guard !(optOut && optIn) else { throw CLIError("Give --opt-out or --opt-in, not both.") }
            try await api.setLeaderboardOptOut(optOut)
            return Terminal.say(
                optOut ? "Your peers no longer see you on leaderboards; you still see your own row." : "Your peers see you on leaderboards again.")
        }
        guard LeaderboardWindow(rawValue: window) != nil else { throw CLIError("--window is week, month or all.") }
        let target = try await team.resolve(api)
        let board = try await api.leaderboard(team: target.id, window: window, offset: back, limit: limit)
        if json { return Terminal.say(Terminal.json(board)) }
        let span = board.from.map { from in " \(from) to \(board.until.map { dayBefore($0) } ?? "")" } ?? " all time"
        Terminal.say("\(target.name) — \(window)\(span) (\(target.timeZone))")
        Terminal.say(
            Terminal.table(
                ["#", "name", "points", "answered", "accuracy", "streak", "mastered"],
                board.rows.map { row in
                    [
                        String(row.rank), row.you ? Terminal.bold(row.displayName + " (you)") : row.displayName, String(row.points),
                        String(row.answered),
                        Terminal.percent(row.accuracy), String(row.streak), String(row.mastered),
                    ]
                }, rightAligned: [0, 2, 3, 4, 5, 6]))
    }

    func dayBefore(_ day: String) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.date(from: day).map { formatter.string(from: $0.addingTimeInterval(-86_400)) } ?? day
    }
}

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Instructor reports on a team: learners, questions, one learner.",
        subcommands: [Learners.self, Questions.self, Learner.self])

    struct Learners: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Per learner: questions attempted, accuracy, mastered, due, streak, last active.")
        @OptionGroup var options: HomeOptions
        @OptionGroup var team: TeamOption
        @Option(help: "table, csv or json.") var format: OutputFormat = .table

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let rows = try await api.learnerReport(team: try await team.resolve(api).id)
            if format == .json { return Terminal.say(Terminal.json(rows)) }
            Terminal.say(
                render(
                    ["learner", "name", "questions", "attempts", "accuracy", "mastered", "due", "streak", "last active", "inactive"],
                    rows.map { r in
                        [
                            r.username, r.displayName, String(r.questionsAttempted), String(r.attempts),
                            r.accuracy.map { String(format: "%.3f", $0) } ?? "",
                            String(r.mastered), String(r.due), String(r.streak), r.lastActiveAt.map { Terminal.time($0) } ?? "never",
                            r.inactive ? "yes" : "no",
                        ]
                    }, as: format, rightAligned: [2, 3, 4, 5, 6, 7]))
        }
    }

    struct Questions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per question: attempts, facility (share correct), discrimination (item vs rest-score), wrong options chosen, median time.")
        @OptionGroup var options: HomeOptions
        @OptionGroup var team: TeamOption
        @Option(help: "Only this deck (its id; default: every deck of the team).") var deck: String?
        @Option(help: "first (each learner's first attempt) or all.") var attempts = "first"
        @Option(help: "table, csv or json.") var format: OutputFormat = .table

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let rows = try await api.questionReport(team: try await team.resolve(api).id, deck: deck, attempts: attempts)
            if format == .json { return Terminal.say(Terminal.json(rows)) }
            Terminal.say(
                render(
                    ["#", "question", "learners", "attempts", "facility", "discrimination", "wrong options chosen", "median s"],
                    rows.map { r in
                        let wrong = r.options.enumerated().filter { !$0.element.correct && $0.element.chosen > 0 }
                            .map { "\(AnswerInput.letter($0.offset)):\($0.element.chosen)" }.joined(separator: " ")
                        return [
                            String(r.position + 1), format == .csv ? r.prompt : Terminal.clip(r.prompt, 40), String(r.learners), String(r.attempts),
                            r.facility.map { String(format: "%.3f", $0) } ?? "", r.discrimination.map { String(format: "%.3f", $0) } ?? "", wrong,
                            r.medianDurationMs.map { String(format: "%.1f", $0 / 1000) } ?? "",
                        ]
                    }, as: format, rightAligned: [0, 2, 3, 4, 5, 7]))
        }
    }

    struct Learner: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One learner of your team: summary, weakest questions, recent answers.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The learner's username.") var username: String
        @OptionGroup var team: TeamOption
        @Option(help: "table, csv or json.") var format: OutputFormat = .table

        func run() async throws {
            let (_, _, api) = try loggedIn(options)
            let detail = try await api.learnerDetail(team: try await team.resolve(api).id, username: username)
            if format == .json { return Terminal.say(Terminal.json(detail)) }
            let l = detail.learner
            if format == .table {
                Terminal.say(
                    "\(l.displayName) (\(l.username)): \(l.attempts) answers to \(l.questionsAttempted) questions, accuracy \(Terminal.percent(l.accuracy)), "
                        + "\(l.mastered) mastered, \(l.due) due, streak \(l.streak), last active \(l.lastActiveAt.map { Terminal.time($0) } ?? "never")."
                )
                Terminal.say("\nWeakest questions:")
            }
            Terminal.say(
                render(
                    ["question", "attempts", "correct", "last answered"],
                    detail.weakQuestions.map {
                        [
                            format == .csv ? $0.prompt : Terminal.clip($0.prompt, 50), String($0.attempts), String($0.correctAttempts),
                            Terminal.time($0.lastAnsweredAt),
                        ]
                    },
                    as: format, rightAligned: [1, 2]))
            if format == .table {
                Terminal.say("\nRecent answers:")
                Terminal.say(
                    Terminal.table(
                        ["answered", "question", "result"],
                        detail.recent.map { [Terminal.time($0.answeredAt), String($0.questionID.prefix(12)), $0.correct ? "right" : "wrong"] }))
            }
        }
    }
}

struct RoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role", abstract: "Give a user a server role: learner, instructor or admin (admins only; the first account is the admin).")
    @OptionGroup var options: HomeOptions
    @Argument(help: "The username.") var username: String
    @Argument(help: "learner, instructor or admin.") var role: String

    func run() async throws {
        let (_, _, api) = try loggedIn(options)
        let changed = try await api.setRole(username: username, role: role)
        Terminal.say("\(changed.username) is now \("aeiou".contains(changed.role.first ?? "x") ? "an" : "a") \(changed.role).")
    }
}
