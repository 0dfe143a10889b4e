import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import StudyAPI
import StudyCore
import StudyServer
import Testing

/// A page as the browser gets it.
struct Page {
    let status: HTTPResponse.Status
    let html: String
    let headers: HTTPFields

    var location: String? { headers[.location] }
    var cookies: [String] { headers[values: .setCookie] }

    /// The value a `Set-Cookie` of this response gives `name` (empty when it clears it).
    func cookie(_ name: String) -> String? {
        cookies.first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1).prefix { $0 != ";" }) }
    }

    /// The `value` of the first `<input name="NAME">`.
    func field(_ name: String) -> String? {
        guard let range = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    /// The page's text as a reader sees it: tags dropped, entities of the escaper decoded, spaces collapsed.
    var text: String {
        var text = html.replacingOccurrences(of: "<[^>]*>", with: " ", options: .regularExpression)
        for (entity, character) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&amp;", "&")] {
            text = text.replacingOccurrences(of: entity, with: character)
        }
        return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}

extension TestClientProtocol {
    func page(_ path: String, session: String? = nil, cookies: [String: String] = [:], form: [String: String]? = nil, headers extra: HTTPFields = [:])
        async throws -> Page
    {
        var headers = extra
        let jar = cookies.merging(session.map { ["studysync_session": $0] } ?? [:]) { a, _ in a }
        if !jar.isEmpty { headers[.cookie] = jar.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") }
        var body: ByteBuffer?
        if let form {
            headers[.contentType] = "application/x-www-form-urlencoded"
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            body = ByteBuffer(
                string: form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.sorted().joined(separator: "&"))
        }
        return try await execute(uri: path, method: form == nil ? .get : .post, headers: headers, body: body) { response in
            Page(status: response.status, html: String(buffer: response.body), headers: response.headers)
        }
    }

    /// Signs in through the page's form, as a browser does; returns the session cookie's value.
    func signIn(_ username: String, password: String = "correct horse") async throws -> String {
        let form = try await page("/signin")
        let token = try #require(form.cookie("studysync_signin"))
        #expect(form.field("token") == token)
        let signedIn = try await page(
            "/signin", cookies: ["studysync_signin": token], form: ["username": username, "password": password, "token": token, "next": "/"])
        #expect(signedIn.status == .seeOther, "\(signedIn.text)")
        return try #require(signedIn.cookie("studysync_session"), "\(signedIn.status) \(signedIn.text)")
    }
}

/// The web dashboard (issue 22) over the real server and PostgreSQL, as a browser without script sees it: sign-in,
/// cookies and forms, who may see which page, the pages' numbers against the API's, and escaping. The same fixture
/// as `TeamTests`, whose numbers are worked out by hand there.
@Suite(.serialized) struct DashboardTests {
    let teams = TeamTests()

    @Test func signingInGivesAStrictHttpOnlyCookieAndSigningOutRevokesIt() async throws {
        try await teams.app().test(.router) { client in
            let p = try await teams.setUp(client)
            let anonymous = try await client.page("/")
            #expect(anonymous.status == .seeOther && anonymous.location == "/signin")
            let deep = try await client.page("/teams/\(p.teamA)/learners?sort=due")
            #expect(deep.location == "/signin?next=/teams/\(p.teamA)/learners%3Fsort%3Ddue")

            // The sign-in form repeats its cookie; a post without it (another site's form) is refused.
            let form = try await client.page("/signin")
            let token = try #require(form.cookie("studysync_signin"))
            let forged = try await client.page("/signin", form: ["username": "amy", "password": "correct horse", "token": token])
            #expect(forged.status == .forbidden && forged.cookie("studysync_session") == nil)
            #expect(forged.text.contains("This sign-in form has expired"))
            let wrong = try await client.page(
                "/signin", cookies: ["studysync_signin": token], form: ["username": "amy", "password": "wrong horse", "token": token])
            #expect(wrong.status == .unauthorized && wrong.text.contains("The username or password is wrong."))
            #expect(wrong.field("username") == "amy")

            let signedIn = try await client.page(
                "/signin", cookies: ["studysync_signin": token],
                form: ["username": "amy", "password": "correct horse", "token": token, "next": "/teams/\(p.teamA)"])
            #expect(signedIn.status == .seeOther && signedIn.location == "/teams/\(p.teamA)")
            let cookie = try #require(signedIn.cookies.first { $0.hasPrefix("studysync_session=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
            #expect(!cookie.contains("Secure"), "plain HTTP, not through a TLS proxy")
            let session = try #require(signedIn.cookie("studysync_session"))
            // The device tokens and the session are apart: the cookie is no bearer token, nor the reverse.
            #expect(try await client.json(.get, "/v1/devices", token: session).status == .unauthorized)
            #expect(try await client.page("/", session: p.amy).status == .seeOther)

            let home = try await client.page("/", session: session)
            #expect(home.status == .ok && home.text.contains("Hello, amy"))
            #expect(home.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(home.headers[.cacheControl] == "no-store")
            let csrf = try #require(home.field("csrf"))

            // Signing out needs the page's token: another site's form cannot sign anyone out.
            let noToken = try await client.page("/signout", session: session, form: ["csrf": "forged"])
            #expect(noToken.status == .forbidden)
            #expect(try await client.page("/", session: session).status == .ok)
            let out = try await client.page("/signout", session: session, form: ["csrf": csrf])
            #expect(out.status == .seeOther && out.location == "/signin" && out.cookie("studysync_session") == "")
            #expect(try await client.page("/", session: session).status == .seeOther, "the session is revoked, not only forgotten")

            // Everywhere: both of a user's browsers.
            let first = try await client.signIn("ben")
            let second = try await client.signIn("ben")
            let page = try await client.page("/", session: first)
            _ = try await client.page("/signout", session: first, form: ["csrf": try #require(page.field("csrf")), "everywhere": "1"])
            #expect(try await client.page("/", session: second).status == .seeOther)

            // Never somewhere else after signing in.
            for next in ["//evil.example/", "https://evil.example/", "/\\evil.example"] {
                let form = try await client.page("/signin")
                let token = try #require(form.cookie("studysync_signin"))
                let response = try await client.page(
                    "/signin", cookies: ["studysync_signin": token],
                    form: ["username": "cyd", "password": "correct horse", "token": token, "next": next])
                #expect(response.location == "/", "\(next)")
            }
        }
    }

    @Test func signInFailuresCountWithTheAPIsLogins() async throws {
        try await teams.app().test(.router) { client in
            _ = try await client.account("root")
            _ = try await client.account("mia")
            for _ in 0..<5 {
                let failed = try await client.json(.post, "/v1/sessions", ["username": "mia", "password": "not her password"])
                #expect(failed.status == .unauthorized)
            }
            let form = try await client.page("/signin")
            let token = try #require(form.cookie("studysync_signin"))
            let limited = try await client.page(
                "/signin", cookies: ["studysync_signin": token], form: ["username": "mia", "password": "correct horse", "token": token])
            #expect(limited.status == .tooManyRequests && limited.headers[.retryAfter] != nil)
            #expect(limited.text.contains("Too many failed sign-ins"))
        }
    }

    @Test func theCookieIsSecureBehindATLSProxy() async throws {
        var configuration = try await testConfiguration()
        configuration.trustedProxies = ["127.0.0.1"]
        try await teams.app(configuration).test(.live) { client in
            _ = try await client.account("root")
            for (proto, secure) in [("https", true), ("http", false)] {
                let form = try await client.page("/signin", headers: [HTTPField.Name("X-Forwarded-Proto")!: proto])
                let token = try #require(form.cookie("studysync_signin"))
                let signedIn = try await client.page(
                    "/signin", cookies: ["studysync_signin": token], form: ["username": "root", "password": "correct horse", "token": token],
                    headers: [HTTPField.Name("X-Forwarded-Proto")!: proto])
                let cookie = try #require(signedIn.cookies.first { $0.hasPrefix("studysync_session=") })
                #expect(cookie.contains("; Secure") == secure, "\(proto): \(cookie)")
            }
        }
    }

    @Test func everyPageChecksWhoIsLooking() async throws {
        try await teams.app().test(.router) { client in try await checkPages(client) }
    }

    @Test func everyPageChecksWhoIsLookingOverAStoreInMemory() async throws {
        let store = InMemoryStore()
        try await store.storeDeck(TeamTests.deck, at: TeamTests.now)
        var configuration = ServerConfiguration(database: .url("postgresql:///unused"))
        configuration.bcryptCost = 4
        let router = try buildRouter(store: store, configuration: configuration, bundledDeckIDs: [TeamTests.deck.id], clock: { TeamTests.now })
        try await Application(router: router).test(.router) { client in try await checkPages(client) }
    }

    /// Each page and download by each kind of visitor, against the API's matrix (TeamTests.checkPermissionMatrix):
    /// outsiders get 404 as if the team did not exist, members the board, instructors and admins the reports; a
    /// visitor who is not signed in is sent to the sign-in page.
    func checkPages(_ client: some TestClientProtocol) async throws {
        let p = try await teams.setUp(client)
        var sessions: [String?] = [nil]
        for name in ["amy", "lea", "ivy", "otto", "root"] { sessions.append(try await client.signIn(name)) }
        let a = p.teamA
        // signed out, learner of A, learner of B, instructor of A, instructor of B, admin
        let cases: [(String, [Int])] = [
            ("/", [303, 200, 200, 200, 200, 200]),
            ("/teams/\(a)", [303, 200, 404, 200, 404, 200]),
            ("/teams/\(a)?window=all&format=csv", [303, 200, 404, 200, 404, 200]),
            ("/teams/\(a)/learners", [303, 403, 404, 200, 404, 200]),
            ("/teams/\(a)/learners?format=csv", [303, 403, 404, 200, 404, 200]),
            ("/teams/\(a)/learners/amy", [303, 403, 404, 200, 404, 200]),
            ("/teams/\(a)/learners/amy?format=csv", [303, 403, 404, 200, 404, 200]),
            ("/teams/\(a)/learners/amy?format=csv&table=weak", [303, 403, 404, 200, 404, 200]),
            ("/teams/\(a)/learners/lea", [303, 403, 404, 404, 404, 404]),
            ("/teams/\(a)/questions", [303, 403, 404, 200, 404, 200]),
            ("/teams/\(a)/questions?format=csv&attempts=all", [303, 403, 404, 200, 404, 200]),
            ("/teams/999999", [303, 404, 404, 404, 404, 404]),
            ("/teams/not-a-number/learners", [303, 404, 404, 404, 404, 404]),
        ]
        for (path, expected) in cases {
            var got: [Int] = []
            for session in sessions { got.append(Int(try await client.page(path, session: session).status.code)) }
            #expect(got == expected, "\(path)")
        }
        // An error is a page too, with a way back, not JSON.
        let outsider = try await client.page("/teams/\(a)/learners", session: sessions[2])
        #expect(outsider.headers[.contentType]?.hasPrefix("text/html") == true && outsider.text.contains("Back to your home page"))
        // Bad parameters are a 400 page, never a crash.
        for path in [
            "/teams/\(a)?window=year", "/teams/\(a)/learners?inactive=0", "/teams/\(a)/learners?inactive=99999999999999999999",
            "/teams/\(a)/learners?sort=password", "/teams/\(a)/questions?attempts=some", "/teams/\(a)/questions?deck=%00",
        ] {
            #expect(try await client.page(path, session: sessions[3]).status == .badRequest, "\(path)")
        }
        #expect(try await client.page("/teams/\(a)/questions?deck=0123456789abcdef", session: sessions[3]).status == .notFound)
    }

    @Test func thePagesShowTheAPIsNumbers() async throws {
        try await teams.app().test(.router) { client in
            let p = try await teams.setUp(client)
            let ivy = try await client.signIn("ivy")

            for window in ["week", "month", "all"] {
                let api = try await client.json(.get, "/v1/teams/\(p.teamA)/leaderboard?window=\(window)&limit=1000", token: p.ivy).body
                let rows = try #require(api["rows"] as? [[String: Any]])
                let csv = try await client.page("/teams/\(p.teamA)?window=\(window)&format=csv", session: ivy)
                #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
                let lines = csv.html.split(separator: "\r\n").dropFirst().map {
                    $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                }
                #expect(
                    lines.map { [$0[0], $0[1], $0[2], $0[3]] }
                        == rows.map { ["\($0["rank"]!)", "\($0["displayName"]!)", "\($0["points"]!)", "\($0["answered"]!)"] })
                let board = try await client.page("/teams/\(p.teamA)?window=\(window)", session: ivy).text
                for row in rows {
                    let accuracy = (row["accuracy"] as? Double).map { "\(Int(($0 * 100).rounded())) %" } ?? "–"
                    #expect(
                        board.contains("\(row["rank"]!) \(row["displayName"]!) \(row["points"]!) \(row["answered"]!) \(accuracy)"),
                        "\(window): \(row)")
                }
            }

            let learners = try #require(
                try await client.json(.get, "/v1/teams/\(p.teamA)/reports/learners", token: p.ivy).body["learners"] as? [[String: Any]])
            let page = try await client.page("/teams/\(p.teamA)/learners?sort=name", session: ivy).text
            for learner in learners {
                let accuracy = (learner["accuracy"] as? Double).map { "\(Int(($0 * 100).rounded())) %" } ?? "–"
                let expected =
                    "\(learner["displayName"]!) \(learner["username"]!) \(learner["questionsAttempted"]!) \(learner["attempts"]!) \(accuracy) "
                    + "\(learner["mastered"]!) \(learner["due"]!) \(learner["streak"]!)"
                #expect(page.contains(expected), "\(expected)")
            }
            // The team week by week (New York weeks from Monday; dee's flagged answer left out): this week amy 5
            // answers (4 right), ben 2, cyd 3 (2 right); last week ben's one.
            #expect(page.contains("2026-11-23 3 10 80 %") && page.contains("2026-11-16 1 1 100 %") && page.contains("2026-11-09 0 0 –"))
            // dee's only answer was too fast to count: she stands out as not studied, and the summary names her.
            #expect(page.contains("1 of 4 learners have not studied for 7 days or more: dee : never studied"), "\(page)")

            let questions = try #require(
                try await client.json(.get, "/v1/teams/\(p.teamA)/reports/questions?attempts=all", token: p.ivy).body["questions"] as? [[String: Any]]
            )
            let csv = try await client.page("/teams/\(p.teamA)/questions?attempts=all&format=csv", session: ivy).html
            let report = try await client.page("/teams/\(p.teamA)/questions?attempts=all", session: ivy).text
            for question in questions where (question["attempts"] as? Int ?? 0) > 0 {
                let facility = try #require(question["facility"] as? Double)
                #expect(csv.contains(",\(question["questionId"]!),"))
                #expect(csv.contains(",\(question["learners"]!),\(question["attempts"]!),\(facility),"), "\(question)")
                #expect(
                    report.contains("\(question["learners"]!) learners, \(question["attempts"]!) answers, \(Int((facility * 100).rounded())) % right")
                )
            }
            // The most missed question by facility is named at the top: q1 (amy ✗✓, ben ✓, cyd ✓ of all answers: 3 of 4).
            #expect(
                report.contains("Most missed: Q2 , “\(TeamTests.deck.questions[1].prompt)”: 75 % right, from 3 learners."), "\(report.prefix(600))")

            // One learner's page: her answers, as the API lists them.
            let amy = try await client.page("/teams/\(p.teamA)/learners/amy", session: ivy)
            #expect(amy.text.contains("Answers 5") && amy.text.contains("Accuracy 80 %"))
            let recent = try await client.page("/teams/\(p.teamA)/learners/amy?format=csv", session: ivy).html
            #expect(recent.split(separator: "\r\n").count == 6)
            let weak = CSVCells.parse(try await client.page("/teams/\(p.teamA)/learners/amy?format=csv&table=weak", session: ivy).html)
            #expect(weak.map { $0[0] } == ["question_id", TeamTests.deck.questions[1].id])

            // The learner's own home: her decks' numbers from her progress (5 answers, 4 right, 3 questions).
            let home = try await client.page("/", session: try await client.signIn("amy")).text
            #expect(home.contains("\(TeamTests.deck.name) \(TeamTests.deck.questions.count) 3 5 80 %"), "\(home.prefix(800))")
            #expect(home.contains("5 answers in the last 30 days"))
        }
    }

    @Test func noPagePrintsWhatAUserWroteUnescaped() async throws {
        try await teams.app().test(.router) { client in
            let admin = try await client.account("root")
            let mallory = try await client.account("mallory")
            #expect(try await client.json(.put, "/v1/users/mallory/role", token: admin, ["role": "instructor"]).status == .ok)
            let team = try await client.json(.post, "/v1/teams", token: mallory, ["name": "<img src=x onerror=alert(2)>"])
            let teamID = Int64(try #require(team.body["id"] as? Int))
            let question = Question(prompt: "<svg onload=alert(3)>?", options: ["<i>a</i>", "\"><script>alert(4)</script>"], correct: [0])
            let published = try await client.json(
                .post, "/v1/teams/\(teamID)/decks", token: mallory,
                PublishBody(name: "<b>deck</b>", questions: [.init(prompt: question.prompt, options: question.options, correct: question.correct)]))
            #expect(published.status == .created)
            let deck = try #require((published.body["deck"] as? [String: Any])?["deckId"] as? String)

            // A learner whose display name is a script, who answers the hostile question.
            let hostile = "<script>alert(1)</script>\"'&"
            let registered = try await client.json(.post, "/v1/accounts", ["username": "trudy", "password": "correct horse", "displayName": hostile])
            #expect(registered.status == .created)
            let trudy = try await client.account("trudy")
            try await teams.join(client, trudy, try await teams.invite(client, mallory, team: teamID))
            let devices = try await client.json(.get, "/v1/devices", token: trudy).body["devices"] as? [[String: Any]]
            let attempt = Attempt(
                id: UUID().uuidString.lowercased(), deviceID: try #require(devices?.first?["id"] as? String), questionID: question.id,
                questionVersion: question.version, chosen: [1], correct: false, answeredAt: TeamTests.now - 60_000, durationMs: 3_000,
                sessionID: UUID().uuidString.lowercased())
            let synced = try await client.json(
                .post, "/v1/sync", token: trudy, SyncRequest(clientTime: TeamTests.now, cursor: 0, attempts: [attempt]))
            #expect(synced.status == .ok)

            let escapedName = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"
            for (who, path, shows) in [
                ("mallory", "/", escapedName), ("mallory", "/teams/\(teamID)", escapedName), ("mallory", "/teams/\(teamID)/learners", escapedName),
                ("mallory", "/teams/\(teamID)/learners/trudy", "&lt;svg onload=alert(3)&gt;?"),
                ("mallory", "/teams/\(teamID)/questions", "&quot;&gt;&lt;script&gt;alert(4)&lt;/script&gt;"),
                ("mallory", "/teams/\(teamID)/questions?deck=\(deck)", "&lt;i&gt;a&lt;/i&gt;"), ("trudy", "/", escapedName),
                ("trudy", "/teams/\(teamID)", escapedName),
            ] {
                let page = try await client.page(path, session: try await client.signIn(who))
                #expect(page.status == .ok, "\(path)")
                for raw in ["<script>alert", "<img src=x", "<svg onload", "<i>a</i>", "<b>deck</b>", "\"><script"] {
                    #expect(!page.html.contains(raw), "\(path) prints \(raw) unescaped")
                }
                #expect(page.html.contains(shows), "\(path) shows what was written, escaped")
                #expect(page.html.contains("&lt;img src=x onerror=alert(2)&gt;"), "\(path) names the team, escaped")
            }
            // A spreadsheet must not run a display name as a formula; a comma or quote stays in its cell.
            let eveName = "=HYPERLINK(\"x\"),1"
            _ = try await client.json(.post, "/v1/accounts", ["username": "eve", "password": "correct horse", "displayName": eveName])
            let eve = try await client.account("eve")
            try await teams.join(client, eve, try await teams.invite(client, mallory, team: teamID))
            let csv = CSVCells.parse(try await client.page("/teams/\(teamID)/learners?format=csv", session: try await client.signIn("mallory")).html)
            #expect(csv.first?.first == "username")
            #expect(csv.first { $0.first == "eve" }?[1] == "'" + eveName)
            #expect(csv.first { $0.first == "trudy" }?[1] == hostile)
        }
    }
}

/// A small RFC 4180 reader for the tests.
enum CSVCells {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var cell = ""
        var quoted = false
        var characters = Array(text)[...]
        while let c = characters.popFirst() {
            if quoted {
                if c == "\"" {
                    if characters.first == "\"" {
                        cell.append("\"")
                        characters = characters.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(cell)
                cell = ""
            } else if c == "\r\n" || c == "\n" {
                row.append(cell)
                rows.append(row)
                row = []
                cell = ""
            } else {
                cell.append(c)
            }
        }
        if !cell.isEmpty || !row.isEmpty {
            row.append(cell)
            rows.append(row)
        }
        return rows
    }
}
