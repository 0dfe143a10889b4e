import Foundation
import HummingbirdTesting
import StudyCore
import Testing

/// The dashboard in a real browser (headless Chromium) against a real server and PostgreSQL: an instructor signs in
/// through the form, reads the leaderboard, finds the learner who stopped studying and the question most learners
/// miss, and the test checks what the browser rendered against the API's numbers. A learner's home shows the charts;
/// a phone-sized window scrolls no page sideways; a display name written as markup stays text. Screenshots of every
/// page go to `$STUDYSYNC_SCREENSHOTS` (default `.build/dashboard-screenshots`) for a person to look at.
///
/// `scripts/test-browser` runs it (and installs Chromium when it is missing); it sets `STUDYSYNC_BROWSER_TESTS=1`,
/// without which the test is skipped, and then a missing browser fails it.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["STUDYSYNC_BROWSER_TESTS"] == "1"))
struct BrowserTests {
    let teams = TeamTests()
    static let day: Int64 = 86_400_000

    /// A class: six learners studied the bundled deck's first four questions over the last days; Q3 is the one they
    /// miss (five of six wrong at first). sam answered once, twelve days ago, and stopped. zed's display name is markup.
    func seed(_ client: some TestClientProtocol) async throws -> (teamID: Int64, instructor: String) {
        let admin = try await client.account("root")
        let instructor = try await client.account("ines")
        #expect(try await client.json(.put, "/v1/users/ines/role", token: admin, ["role": "instructor"]).status == .ok)
        let team = try await client.json(.post, "/v1/teams", token: instructor, ["name": "Deploying ML, autumn", "timeZone": "Europe/London"])
        let teamID = Int64(try #require(team.body["id"] as? Int))
        let code = try await teams.invite(client, instructor, team: teamID, maxUses: 20)
        func at(_ daysAgo: Int64, _ minutes: Int64) -> String {
            ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(TeamTests.now - daysAgo * Self.day + minutes * 60_000) / 1000))
        }
        let answers: [(String, String?, [(Int, Bool, String, Int64)])] = [
            ("ana", nil, [(0, true, at(1, 0), 5_000), (1, true, at(1, 1), 6_000), (2, true, at(1, 2), 9_000), (3, true, at(0, -60), 4_000)]),
            ("ben", nil, [(0, true, at(2, 0), 5_000), (1, false, at(2, 1), 7_000), (2, false, at(2, 2), 8_000), (1, true, at(0, -50), 5_000)]),
            ("cara", nil, [(0, true, at(3, 0), 4_000), (1, true, at(3, 1), 6_000), (2, false, at(3, 2), 12_000), (3, true, at(1, 30), 5_000)]),
            ("dan", nil, [(0, false, at(1, 0), 6_000), (1, true, at(1, 1), 6_000), (2, false, at(1, 2), 10_000), (3, false, at(1, 3), 7_000)]),
            (
                "zed", "<img src=x onerror=\"document.title='pwned'\">",
                [(0, true, at(4, 0), 5_000), (1, true, at(4, 1), 5_000), (2, false, at(4, 2), 11_000), (3, true, at(2, 0), 4_000)]
            ),
            ("sam", nil, [(0, true, at(12, -2), 6_000), (2, false, at(12, -1), 9_000)]),
        ]
        for (name, displayName, studied) in answers {
            if let displayName {
                let made = try await client.json(.post, "/v1/accounts", ["username": name, "password": "correct horse", "displayName": displayName])
                #expect(made.status == .created)
            }
            let token = try await client.account(name)
            try await teams.join(client, token, code)
            try await teams.push(client, token, studied)
        }
        return (teamID, instructor)
    }

    @Test func anInstructorFindsWhoStoppedAndWhatIsMissedInABrowser() async throws {
        let path = try #require(Chromium.path, "no Chromium: install Debian's chromium (scripts/test-browser does)")
        let shots = URL(
            fileURLWithPath: ProcessInfo.processInfo.environment["STUDYSYNC_SCREENSHOTS"] ?? ".build/dashboard-screenshots", isDirectory: true)
        try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
        let browser = try Chromium(path: path, log: shots.appendingPathComponent("chromium.log"))
        defer { browser.quit() }

        try await teams.app().test(.live) { client in
            let (teamID, instructor) = try await seed(client)
            let base = "http://127.0.0.1:\(try #require(client.port))"
            let page = try await BrowserPage.open(browser)
            func normalized() async throws -> String { try await page.text().split(whereSeparator: \.isWhitespace).joined(separator: " ") }
            func shot(_ name: String) async throws {
                try await page.screenshot(to: shots.appendingPathComponent("\(name).png"))
                #expect(try await page.evaluate("document.title") as? String != "pwned", "a display name ran as script on \(name)")
            }

            // Signed out, the home page sends the browser to the sign-in form.
            try await page.go(base + "/", arrivingAt: "/signin")
            try await shot("01-sign-in")
            try await page.fill(["username": "ines", "password": "wrong password"])
            try await page.click("form.signin button", arrivingAt: "/signin")
            #expect(try await normalized().contains("The username or password is wrong."))
            try await page.fill(["username": "ines", "password": "correct horse"])
            try await page.click("form.signin button", arrivingAt: "/")
            #expect(try await normalized().contains("Deploying ML, autumn"))
            try await shot("02-instructor-home")

            // The leaderboard, row by row as the API ranks it.
            try await page.click("a[href='/teams/\(teamID)']", arrivingAt: "/teams/\(teamID)")
            for window in ["week", "all"] {
                try await page.go(base + "/teams/\(teamID)?window=\(window)")
                let text = try await normalized()
                let board = try await client.json(.get, "/v1/teams/\(teamID)/leaderboard?window=\(window)&limit=100", token: instructor).body
                let rows = try #require(board["rows"] as? [[String: Any]])
                #expect(rows.count == 6)
                for row in rows {
                    let accuracy = (row["accuracy"] as? Double).map { "\(Int(($0 * 100).rounded())) %" } ?? "–"
                    let expected = "\(row["rank"]!) \(row["displayName"]!) \(row["points"]!) \(row["answered"]!) \(accuracy) \(row["streak"]!)"
                    #expect(text.contains(expected), "\(window): \(expected)")
                }
                try await shot("03-leaderboard-\(window)")
            }

            // Who stopped: the learners report names sam at the top, with the days the API's last activity gives.
            try await page.click("a[href='/teams/\(teamID)/learners']", arrivingAt: "/teams/\(teamID)/learners")
            let learners = try #require(
                try await client.json(.get, "/v1/teams/\(teamID)/reports/learners", token: instructor).body["learners"] as? [[String: Any]])
            let sam = try #require(learners.first { $0["username"] as? String == "sam" })
            let idle = (TeamTests.now - (sam["lastActiveAt"] as? Int64 ?? Int64(sam["lastActiveAt"] as? Int ?? 0))) / Self.day
            #expect(idle == 12)
            var text = try await normalized()
            #expect(text.contains("1 of 6 learners have not studied for 7 days or more: sam: not studied for 12 days"), "\(text.prefix(500))")
            for learner in learners {
                let accuracy = (learner["accuracy"] as? Double).map { "\(Int(($0 * 100).rounded())) %" } ?? "–"
                let expected =
                    "\(learner["displayName"]!) \(learner["username"]!) \(learner["questionsAttempted"]!) \(learner["attempts"]!) \(accuracy) "
                    + "\(learner["mastered"]!) \(learner["due"]!) \(learner["streak"]!)"
                #expect(text.contains(expected), "\(expected)")
            }
            // The first row, sorted by when they last studied, is sam's; sorting by answers puts the most at the bottom.
            #expect(try await page.evaluate("document.querySelector('table.learners tbody tr th a').textContent") as? String == "sam")
            try await shot("04-learners")
            try await page.click("th a[href*='sort=attempts']", arrivingAt: "/teams/\(teamID)/learners")
            #expect(try await page.evaluate("document.querySelector('table.learners tbody tr th a').textContent") as? String == "sam")
            try await page.click("th a[href*='sort=attempts']", arrivingAt: "/teams/\(teamID)/learners")
            #expect(try await page.evaluate("document.querySelector('table.learners tbody tr:last-child th a').textContent") as? String == "sam")

            try await page.click("a[href='/teams/\(teamID)/learners/sam']", arrivingAt: "/teams/\(teamID)/learners/sam")
            text = try await normalized()
            #expect(
                text.contains("sam has not studied for 12 days") && text.contains("Answers 2") && text.contains("Accuracy 50 %"),
                "\(text.prefix(600))")
            try await shot("05-learner-sam")

            // What is missed: the question report names the question of lowest facility in the API's report.
            try await page.go(base + "/teams/\(teamID)/questions")
            let questions = try #require(
                try await client.json(.get, "/v1/teams/\(teamID)/reports/questions", token: instructor).body["questions"] as? [[String: Any]])
            let hardest = try #require(
                questions.filter { $0["facility"] as? Double != nil }.min { ($0["facility"] as! Double) < ($1["facility"] as! Double) })
            #expect(hardest["questionId"] as? String == TeamTests.deck.questions[2].id)
            let facility = Int(((hardest["facility"] as? Double ?? 0) * 100).rounded())
            text = try await normalized()
            let prompt = TeamTests.deck.questions[2].prompt.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("Most missed: Q3, “\(prompt)”: \(facility) % right, from 6 learners."), "\(text.prefix(700))")
            #expect(text.contains("too hard"), "Q3 is flagged (1 of 6 right, 6 learners)")
            #expect(try await page.evaluate("document.querySelectorAll('svg[role=img] > title').length") as? Int ?? 0 >= 3)
            try await shot("06-questions")

            // zed's name is shown as the text it is.
            try await page.go(base + "/teams/\(teamID)/learners")
            #expect(try await page.text().contains("<img src=x onerror=\"document.title='pwned'\">"))

            // On a phone, no page needs sideways scrolling: wide tables scroll in their own box.
            try await page.viewport(width: 390, height: 844, phone: true)
            for (name, url) in [
                ("07-phone-learners", "/teams/\(teamID)/learners"), ("08-phone-questions", "/teams/\(teamID)/questions"),
                ("09-phone-leaderboard", "/teams/\(teamID)"),
            ] {
                try await page.go(base + url)
                #expect(try await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth") as? Bool == true, "\(url)")
                try await shot(name)
            }
            try await page.viewport(width: 1200, height: 900, phone: false)

            // Signing out ends the session: home goes back to the form.
            try await page.go(base + "/")
            try await page.click("header form button", arrivingAt: "/signin")
            try await page.go(base + "/", arrivingAt: "/signin")

            // A learner's own home: progress per deck, the charts with their text, the team's board.
            try await page.fill(["username": "ana", "password": "correct horse"])
            try await page.click("form.signin button", arrivingAt: "/")
            text = try await normalized()
            #expect(text.contains("\(TeamTests.deck.name) \(TeamTests.deck.questions.count) 4 4 100 %"), "\(text.prefix(500))")
            #expect(text.contains("4 answers in the last 30 days"))
            let charts =
                try await page.evaluate("Array.from(document.querySelectorAll('svg[role=img] > title')).map(t => t.textContent)") as? [String]
            #expect(charts?.count == 2 && charts?.first?.hasPrefix("Answers and accuracy per day") == true, "\(charts ?? [])")
            #expect(try await page.evaluate("document.querySelectorAll('svg[role=img] rect').length") as? Int ?? 0 >= 60)
            try await shot("10-learner-home")
            // Not an instructor: the reports are not hers to see.
            try await page.go(base + "/teams/\(teamID)/learners")
            #expect(try await normalized().contains("403 Forbidden"))
        }
        print("dashboard screenshots: \(shots.path)")
    }
}
