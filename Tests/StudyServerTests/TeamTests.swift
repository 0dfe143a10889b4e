import Foundation
import Hummingbird
import HummingbirdTesting
import LibPQ
import PostgresTestSupport
import StudyAPI
import StudyCore
import StudyDecks
import StudyPostgres
import StudyServer
import Testing

/// Teams, the leaderboard and the reports over a small fixture whose numbers are worked out by hand below.
///
/// "Now" is Wednesday 2026-11-25 15:00 UTC. Team A counts days in America/New_York (UTC-5 in November), weeks from
/// Monday, so this week is 2026-11-23 … 2026-11-29 there. Its learners (all answers on the bundled deck's first
/// three questions; "NY" is the New York day):
///
/// - amy: q0 ✓ 11-24 14:00Z, q0 ✓ 15:00Z, q1 ✗ 16:00Z (NY 11-24); q1 ✓ 11-25 14:00Z, q2 ✓ 14:30Z (NY 11-25).
///   Points 1 (q0 on 11-24) + 2 (q1, q2 on 11-25) = 3; answered 5, correct 4; streak 2. She studied before joining:
///   her aggregates are rebuilt when she joins.
/// - ben: q2 ✓ 11-23 04:00Z (NY Sunday 11-22: last week); q0 ✓ 11-24 03:00Z (NY Monday 11-23); q1 ✓ 11-25 13:00Z.
///   This week 2 points, all time 3; streak 1 (11-25 alone).
/// - cyd: q0 ✗ 11-24 12:00Z, q0 ✓ 12:10Z, q1 ✓ 12:20Z (NY 11-24): 2 points; streak 1 (yesterday counts).
/// - dee: q0 ✓ in 200 ms (flagged too fast): 0 points, nothing in the reports.
///
/// Week ranks: amy 1, ben 2, cyd 2, dee 4. All time: amy 1, ben 1, cyd 3, dee 4. Last week: ben 1, the rest 2.
@Suite(.serialized) struct TeamTests {
    static let now: Int64 = 1_795_618_800_000  // 2026-11-25T15:00:00Z
    static let hour: Int64 = 3_600_000
    static let deck = try! SeedFormat.parse(BundledDecks.all()[0].text, name: BundledDecks.all()[0].name)

    struct People {
        var admin = "", ivy = "", amy = "", ben = "", cy = "", dee = "", otto = "", lea = ""
        var teamA: Int64 = 0, teamB: Int64 = 0
    }

    func attempt(_ q: Int, _ right: Bool, at time: Int64, duration: Int64 = 4_000, device: String) -> Attempt {
        let question = Self.deck.questions[q]
        let chosen = right ? question.correct : [(question.correct[0] + 1) % question.options.count]
        return Attempt(
            id: UUID().uuidString.lowercased(), deviceID: device, questionID: question.id, questionVersion: question.version, chosen: chosen,
            correct: right, answeredAt: time, durationMs: duration, sessionID: UUID().uuidString.lowercased())
    }

    func push(_ client: any TestClientProtocol, _ token: String, _ answers: [(Int, Bool, String, Int64)]) async throws {
        let devices = try await client.json(.get, "/v1/devices", token: token).body["devices"] as? [[String: Any]] ?? []
        let device = try #require(devices.first?["id"] as? String)
        let attempts = answers.map { q, right, when, duration in
            attempt(q, right, at: Int64(ISO8601DateFormatter().date(from: when)!.timeIntervalSince1970 * 1000), duration: duration, device: device)
        }
        let response = try await client.json(.post, "/v1/sync", token: token, SyncRequest(clientTime: Self.now, cursor: 0, attempts: attempts))
        #expect(response.status == .ok)
    }

    func invite(_ client: any TestClientProtocol, _ token: String, team: Int64, role: String = "member", maxUses: Int = 10) async throws -> String {
        struct Body: Encodable { let role: String; let maxUses: Int }
        let made = try await client.json(.post, "/v1/teams/\(team)/invites", token: token, Body(role: role, maxUses: maxUses))
        return try #require(made.body["code"] as? String, "\(made)")
    }

    func join(_ client: any TestClientProtocol, _ token: String, _ code: String) async throws {
        let joined = try await client.json(.post, "/v1/teams/join", token: token, ["code": code])
        #expect(joined.status == .ok, "\(joined.body)")
    }

    /// A test server's configuration with the background fold off, so that the test folds at the moments it chooses, and
    /// a pool of one connection on the server's database, to read and fold with.
    func withFoldingOff(_ body: (ServerConfiguration, PostgresPool) async throws -> Void) async throws {
        var configuration = try await testConfiguration()
        configuration.foldsQuestionSums = false
        guard case .url(let url) = configuration.database else { return #expect(Bool(false)) }
        try await withPool(PostgresPool(configuration: PostgresConfiguration(url: url), size: 1)) { pool in try await body(configuration, pool) }
    }

    /// The fixture above, through the API.
    func setUp(_ client: any TestClientProtocol) async throws -> People {
        var p = People()
        p.admin = try await client.account("root")  // the first account: the admin
        for name in ["ivy", "amy", "ben", "cyd", "dee", "otto", "lea"] {
            let token = try await client.account(name)
            switch name {
            case "ivy": p.ivy = token
            case "amy": p.amy = token
            case "ben": p.ben = token
            case "cyd": p.cy = token
            case "dee": p.dee = token
            case "otto": p.otto = token
            default: p.lea = token
            }
        }
        for instructor in ["ivy", "otto"] {
            let promoted = try await client.json(.put, "/v1/users/\(instructor)/role", token: p.admin, ["role": "instructor"])
            #expect(promoted.status == .ok)
        }
        let a = try await client.json(.post, "/v1/teams", token: p.ivy, ["name": "Team A", "timeZone": "America/New_York"])
        p.teamA = try #require(a.body["id"] as? Int64 ?? (a.body["id"] as? Int).map(Int64.init), "\(a.body)")
        let b = try await client.json(.post, "/v1/teams", token: p.otto, ["name": "Team B"])
        p.teamB = try #require(b.body["id"] as? Int64 ?? (b.body["id"] as? Int).map(Int64.init))

        // amy studies before she joins; the others after.
        try await push(
            client, p.amy,
            [
                (0, true, "2026-11-24T14:00:00Z", 4_000), (0, true, "2026-11-24T15:00:00Z", 6_000), (1, false, "2026-11-24T16:00:00Z", 8_000),
                (1, true, "2026-11-25T14:00:00Z", 5_000), (2, true, "2026-11-25T14:30:00Z", 3_000),
            ])
        let code = try await invite(client, p.ivy, team: p.teamA)
        for token in [p.amy, p.ben, p.cy, p.dee] { try await join(client, token, code) }
        try await join(client, p.lea, try await invite(client, p.otto, team: p.teamB))
        try await push(
            client, p.ben,
            [(2, true, "2026-11-23T04:00:00Z", 2_000), (0, true, "2026-11-24T03:00:00Z", 3_000), (1, true, "2026-11-25T13:00:00Z", 7_000)])
        try await push(
            client, p.cy,
            [(0, false, "2026-11-24T12:00:00Z", 10_000), (0, true, "2026-11-24T12:10:00Z", 4_000), (1, true, "2026-11-24T12:20:00Z", 6_000)])
        try await push(client, p.dee, [(0, true, "2026-11-25T12:00:00Z", 200)])
        return p
    }

    func app(_ configuration: ServerConfiguration? = nil) async throws -> some ApplicationProtocol {
        let configuration = if let configuration { configuration } else { try await testConfiguration() }
        return try await buildApplication(configuration, clock: { Self.now })
    }

    func board(_ client: any TestClientProtocol, _ token: String, _ team: Int64, _ query: String = "") async throws -> [(String, Int, Int)] {
        let response = try await client.json(.get, "/v1/teams/\(team)/leaderboard\(query)", token: token)
        #expect(response.status == .ok, "\(response.body)")
        return (response.body["rows"] as? [[String: Any]] ?? []).map { ($0["displayName"] as! String, $0["rank"] as! Int, $0["points"] as! Int) }
    }

    /// The board's figures, first while the members' pushes are still marked (their attempts read from the marks,
    /// SQL/029), then with one of the two folded, then after the fold has added them all to the board's rows (no member
    /// marked: `team_leaderboard` reads no pending attempts).
    @Test func leaderboardRanksTiesWindowsZonesOptOutAndFlags() async throws {
        try await withFoldingOff { configuration, pool async throws in
            try await app(configuration).test(.router) { client in
                let p = try await setUp(client)
                let marked = try await pool.query("SELECT count(*) FROM question_parts_pending").scalar(Int.self) ?? 0
                // ben and cyd are marked (amy pushed before she joined, dee's one answer is flagged).
                #expect(TestDatabase.isCitus || marked == 2, "\(marked) marked")
                try await checkBoards(client, p, "marked")
                if !TestDatabase.isCitus {
                    // ben's mark folded, cyd's not: the statement for marked members, with ben's figures from the rows.
                    try await pool.withTransaction { tx in
                        let ben = try await tx.query("SELECT id FROM users WHERE username = 'ben'").scalar(Int64.self) ?? 0
                        try await tx.query("SELECT 1 FROM learner_counters WHERE user_id = \(ben) FOR UPDATE")
                        try await tx.query("SELECT fold_learner_pending_parts(\(ben))")
                    }
                    #expect(try await pool.query("SELECT count(*) FROM question_parts_pending").scalar(Int.self) == 1)
                    try await checkBoards(client, p, "cyd marked")
                }
                while try await PostgresStore(pool: pool).foldQuestionSums(moves: 100, learners: 10) != (0, 0) {}
                #expect(try await Self.unsummed(pool) == 0)
                try await checkBoards(client, p, "folded")
            }
        }
    }

    func checkBoards(_ client: any TestClientProtocol, _ p: People, _ state: Comment) async throws {
        let week = try await board(client, p.amy, p.teamA)
        #expect(week.map(\.0) == ["amy", "ben", "cyd", "dee"], state)
        #expect(week.map(\.1) == [1, 2, 2, 4], state)
        #expect(week.map(\.2) == [3, 2, 2, 0], state)

        let full = try await client.json(.get, "/v1/teams/\(p.teamA)/leaderboard", token: p.amy).body
        #expect(full["from"] as? String == "2026-11-23" && full["until"] as? String == "2026-11-30", state)
        let amy = try #require((full["rows"] as? [[String: Any]])?.first)
        #expect(
            amy["answered"] as? Int == 5 && amy["accuracy"] as? Double == 0.8 && amy["streak"] as? Int == 2 && amy["you"] as? Bool == true, state)
        let rows = try #require(full["rows"] as? [[String: Any]])
        #expect(rows.map { $0["streak"] as? Int } == [2, 1, 1, 0], state)

        #expect(try await board(client, p.amy, p.teamA, "?window=all").map(\.1) == [1, 1, 3, 4], state)
        #expect(try await board(client, p.amy, p.teamA, "?window=all").map(\.2) == [3, 3, 2, 0], state)
        let lastWeek = try await board(client, p.amy, p.teamA, "?window=week&offset=1")
        #expect(lastWeek.map(\.0) == ["ben", "amy", "cyd", "dee"] && lastWeek.map(\.1) == [1, 2, 2, 2], state)
        #expect(try await board(client, p.amy, p.teamA, "?window=month").map(\.2) == [3, 3, 2, 0], state)

        // The caller's own row even outside the top N.
        let top1 = try await board(client, p.dee, p.teamA, "?limit=1")
        #expect(top1.map(\.0) == ["amy", "dee"] && top1.map(\.1) == [1, 4], state)
        // Its figures are its own, as on the whole board (this week ben answered 2; the streaks are read for the rows
        // shown only, SQL/030).
        let benTop1 = try #require(
            try await client.json(.get, "/v1/teams/\(p.teamA)/leaderboard?limit=1", token: p.ben).body["rows"] as? [[String: Any]])
        #expect(benTop1.map { $0["displayName"] as? String } == ["amy", "ben"], state)
        #expect(benTop1.map { $0["streak"] as? Int } == [2, 1] && benTop1.map { $0["answered"] as? Int } == [5, 2], state)
        #expect(benTop1.map { $0["you"] as? Bool } == [false, true], state)

        // cy opts out: peers no longer see her, she and the instructor still do; then back in.
        #expect(try await client.json(.put, "/v1/me/leaderboard", token: p.cy, ["optOut": true]).status == .ok)
        #expect(try await board(client, p.amy, p.teamA).map(\.0) == ["amy", "ben", "dee"], state)
        #expect(try await board(client, p.amy, p.teamA).map(\.1) == [1, 2, 3], state)
        #expect(try await board(client, p.cy, p.teamA).map(\.0) == ["amy", "ben", "cyd", "dee"], state)
        #expect(try await board(client, p.ivy, p.teamA).map(\.0) == ["amy", "ben", "cyd", "dee"], state)
        #expect(try await client.json(.put, "/v1/me/leaderboard", token: p.cy, ["optOut": false]).status == .ok)

        let bad = try await client.json(.get, "/v1/teams/\(p.teamA)/leaderboard?window=year", token: p.amy)
        #expect(bad.status == .badRequest, state)
    }

    @Test func reportsMatchTheHandCount() async throws {
        try await app().test(.router) { client in
            let p = try await setUp(client)
            let learners =
                try await client.json(.get, "/v1/teams/\(p.teamA)/reports/learners", token: p.ivy).body["learners"] as? [[String: Any]] ?? []
            let byName = Dictionary(uniqueKeysWithValues: learners.map { ($0["username"] as! String, $0) })
            #expect(byName.keys.sorted() == ["amy", "ben", "cyd", "dee"])
            #expect(byName["amy"]?["questionsAttempted"] as? Int == 3 && byName["amy"]?["attempts"] as? Int == 5)
            #expect(
                byName["amy"]?["accuracy"] as? Double == 0.8 && byName["amy"]?["streak"] as? Int == 2 && byName["amy"]?["inactive"] as? Bool == false)
            #expect(byName["ben"]?["attempts"] as? Int == 3 && byName["ben"]?["accuracy"] as? Double == 1 && byName["ben"]?["streak"] as? Int == 1)
            #expect(byName["cyd"]?["attempts"] as? Int == 3 && byName["cyd"]?["streak"] as? Int == 1)
            #expect(byName["dee"]?["attempts"] as? Int == 0 && byName["dee"]?["accuracy"] == nil && byName["dee"]?["inactive"] as? Bool == true)

            let first = try await client.json(.get, "/v1/teams/\(p.teamA)/reports/questions?deck=\(Self.deck.id)", token: p.ivy).body
            let questions = try #require(first["questions"] as? [[String: Any]])
            #expect(questions.count == Self.deck.questions.count)
            func row(_ q: Int, _ rows: [[String: Any]]) -> [String: Any] { rows.first { $0["questionId"] as? String == Self.deck.questions[q].id }! }
            let q0 = row(0, questions), q1 = row(1, questions), q2 = row(2, questions)
            #expect(q0["learners"] as? Int == 3 && q0["attempts"] as? Int == 3)
            #expect(abs((q0["facility"] as? Double ?? 0) - 2.0 / 3) < 1e-9)
            #expect(abs((q0["discrimination"] as? Double ?? 0) - 0.5) < 1e-9)
            #expect(abs((q1["discrimination"] as? Double ?? 0) + 0.5) < 1e-9)
            #expect(q2["discrimination"] == nil && q2["facility"] as? Double == 1)
            #expect(
                q0["medianDurationMs"] as? Double == 4_000 && q1["medianDurationMs"] as? Double == 7_000 && q2["medianDurationMs"] as? Double == 2_500
            )
            let q0Options = try #require(q0["options"] as? [[String: Any]])
            let correctIndex = Self.deck.questions[0].correct[0]
            let wrongIndex = (correctIndex + 1) % Self.deck.questions[0].options.count
            #expect(q0Options[correctIndex]["chosen"] as? Int == 2 && q0Options[correctIndex]["correct"] as? Bool == true)
            #expect(q0Options[wrongIndex]["chosen"] as? Int == 1)
            #expect(row(3, questions)["learners"] as? Int == 0)

            let all = try await client.json(.get, "/v1/teams/\(p.teamA)/reports/questions?deck=\(Self.deck.id)&attempts=all", token: p.ivy).body
            let allQ0 = row(0, try #require(all["questions"] as? [[String: Any]]))
            // Median over learners of their mean time: amy (4 s + 6 s) / 2, ben 3 s, cyd (10 s + 4 s) / 2 -> 5 s.
            #expect(allQ0["attempts"] as? Int == 5 && allQ0["facility"] as? Double == 0.8 && allQ0["medianDurationMs"] as? Double == 5_000)
            #expect((allQ0["options"] as? [[String: Any]])?[correctIndex]["chosen"] as? Int == 4)

            let detail = try await client.json(.get, "/v1/teams/\(p.teamA)/reports/learners/amy", token: p.ivy).body
            #expect((detail["recent"] as? [Any])?.count == 5)
            #expect(((detail["weakQuestions"] as? [[String: Any]])?.map { $0["questionId"] as? String }) == [Self.deck.questions[1].id])
        }
    }

    @Test func everyEndpointChecksWhoIsCalling() async throws {
        try await app().test(.router) { client in try await checkPermissionMatrix(client) }
    }

    /// The same matrix over the routes alone (`buildRouter`) and a store in memory: the rule of who may call what lives
    /// in the handlers, not in the database, and runs in milliseconds.
    @Test func everyEndpointChecksWhoIsCallingOverAStoreInMemory() async throws {
        let store = InMemoryStore()
        try await store.storeDeck(Self.deck, at: Self.now)
        var configuration = ServerConfiguration(database: .url("postgresql:///unused"))
        configuration.bcryptCost = 4
        let router = try buildRouter(store: store, configuration: configuration, bundledDeckIDs: [Self.deck.id], clock: { Self.now })
        try await Application(router: router).test(.router) { client in try await checkPermissionMatrix(client) }
    }

    /// Each team, deck and user route called by each kind of caller, against the answer each must get.
    func checkPermissionMatrix(_ client: any TestClientProtocol) async throws {
        let p = try await setUp(client)
        let published = try await client.json(
            .post, "/v1/teams/\(p.teamA)/decks", token: p.ivy,
            PublishBody(name: "Extra", questions: [.init(prompt: "Two plus two?", options: ["3", "4"], correct: [1])]))
        #expect(published.status == .created)
        let deckID = try #require((published.body["deck"] as? [String: Any])?["deckId"] as? String)
        let a = p.teamA
        // anonymous, learner of A, learner of B, instructor of A, instructor of B, admin
        let callers: [String?] = [nil, p.amy, p.lea, p.ivy, p.otto, p.admin]
        let deckBody = PublishBody(name: "Matrix", questions: [.init(prompt: "One?", options: ["a", "b"], correct: [0])])
        let cases: [(HTTPRequest.Method, String, any Encodable & Sendable, [Int])] = [
            (.get, "/v1/teams", [String: String](), [401, 200, 200, 200, 200, 200]),
            (.post, "/v1/teams", ["name": "New"], [401, 403, 403, 201, 201, 201]),
            (.get, "/v1/teams/\(a)", [String: String](), [401, 200, 404, 200, 404, 200]),
            (.get, "/v1/teams/\(a)/members", [String: String](), [401, 403, 404, 200, 404, 200]),
            (.post, "/v1/teams/\(a)/invites", [String: String](), [401, 403, 404, 201, 404, 201]),
            (.post, "/v1/teams/\(a)/decks", deckBody, [401, 403, 404, 201, 404, 201]),
            (.get, "/v1/teams/\(a)/leaderboard", [String: String](), [401, 200, 404, 200, 404, 200]),
            (.get, "/v1/teams/\(a)/reports/learners", [String: String](), [401, 403, 404, 200, 404, 200]),
            (.get, "/v1/teams/\(a)/reports/learners/amy", [String: String](), [401, 403, 404, 200, 404, 200]),
            (.get, "/v1/teams/\(a)/reports/questions", [String: String](), [401, 403, 404, 200, 404, 200]),
            (.get, "/v1/decks", [String: String](), [401, 200, 200, 200, 200, 200]),
            (.get, "/v1/decks/\(deckID)", [String: String](), [401, 200, 404, 200, 404, 200]),
            (.get, "/v1/decks/\(Self.deck.id)", [String: String](), [401, 200, 200, 200, 200, 200]),
            (.put, "/v1/me/leaderboard", ["optOut": false], [401, 200, 200, 200, 200, 200]),
            (.put, "/v1/users/ben/role", ["role": "learner"], [401, 403, 403, 403, 403, 200]),
            (.get, "/v1/users", [String: String](), [401, 403, 403, 403, 403, 200]),
            (.put, "/v1/users/ben/disabled", ["disabled": false], [401, 403, 403, 403, 403, 200]),
            (.delete, "/v1/users/nobody", [String: String](), [401, 403, 403, 403, 403, 404]),
            (.post, "/v1/registration-invites", ["uses": 2], [401, 403, 403, 403, 403, 201]),
            (.post, "/v1/teams/join", ["code": "no-such-code"], [401, 404, 404, 404, 404, 404]),
            (.delete, "/v1/teams/\(p.teamB)/membership", [String: String](), [401, 404, 204, 404, 204, 404]),
        ]
        for (method, path, body, expected) in cases {
            var got: [Int] = []
            for caller in callers { got.append(Int(try await client.json(method, path, token: caller, AnyEncodable(body)).status.code)) }
            #expect(got == expected, "\(method) \(path)")
        }
        // What a learner may see of another learner: nothing but the board's row.
        let devices = try await client.json(.get, "/v1/devices", token: p.amy).body["devices"] as? [[String: Any]] ?? []
        #expect(devices.count == 1)
        let pulled = try await client.decoded(
            SyncResponse.self, .post, "/v1/sync", token: p.amy, SyncRequest(clientTime: Self.now, cursor: 0, attempts: []))
        #expect(pulled.attempts.isEmpty)
    }

    /// The caches the push path keeps row by row equal what a rebuild from the attempts gives.
    @Test func rebuildingTheAggregatesFromTheAttemptsChangesNothing() async throws {
        try await withFoldingOff { configuration, pool async throws in
            let tables = [
                "SELECT user_id, question_id, state, step, stability, difficulty, due, last_review, attempts, correct_attempts, last_correct, mastered FROM progress",
                "SELECT user_id, mastered_count FROM learner_counters", "SELECT * FROM learner_question_stats",
                "SELECT * FROM daily_question_activity",
                "SELECT * FROM daily_activity", "SELECT * FROM weekly_activity", "SELECT * FROM monthly_activity", "SELECT * FROM activity_totals",
                Self.currentSums + " WHERE s.learners > 0",
            ]
            let sums = tables.count - 1
            @Sendable func snapshot() async throws -> [[String]] {
                var all: [[String]] = []
                for sql in tables {
                    let rows = try await pool.query(PostgresQuery(unsafeSQL: sql + " ORDER BY 1, 2"))
                    all.append(rows.map { row in (0..<row.count).map { row[$0] ?? "NULL" }.joined(separator: "|") }.sorted())
                }
                return all
            }
            @Sendable func compare(_ before: [[String]], _ after: [[String]], _ step: String) {
                for (i, sql) in tables.enumerated() where after[i] != before[i] {
                    Issue.record(
                        "\(step): \(sql)\nbefore: \(before[i].filter { !after[i].contains($0) })\nafter: \(after[i].filter { !before[i].contains($0) })"
                    )
                }
            }
            /// The question-report sums of every deck of every team, from scratch.
            @Sendable func rebuildSums() async throws {
                try await pool.query("SELECT rebuild_team_question_sums(team_id, deck_id) FROM team_decks")
            }
            try await app(configuration).test(.router) { client in
                let p = try await setUp(client)
                // amy again, as a member: her scores on questions 0 and 3 change, and with them her total on the deck.
                try await push(client, p.amy, [(0, false, "2026-11-25T09:00:00Z", 9_000), (3, true, "2026-11-25T09:01:00Z", 61_500)])
                let unfolded = try await snapshot()
                let store = PostgresStore(pool: pool)
                // Her total moved: the sums have her old one until it is folded in, and the report adds the difference.
                // On one PostgreSQL her attempts reach the boards' rows in the same fold (SQL/029); on Citus, with her push.
                #expect(try await Self.unsummed(pool) > 0)
                while try await store.foldQuestionSums(moves: 7, learners: 1) != (0, 0) {}
                #expect(try await Self.unsummed(pool) == 0)
                let before = try await snapshot()
                #expect(
                    before[2].count > 5 && before[4].count > 5 && before[5].count > 3 && before[6].count == 3 && before[sums].count == 8,
                    "\(before[sums])")
                #expect(unfolded[sums] == before[sums], "the reports read what the fold left")
                if TestDatabase.isCitus {
                    #expect(unfolded[4] == before[4], "her push added her answers to her day")
                } else {
                    #expect(unfolded[4] != before[4], "the fold added her answers to her day")
                }
                for id in try await pool.query("SELECT id FROM users").column(Int64.self) {
                    try await store.rebuildAggregates(userID: id, at: Self.now)
                }
                compare(before, try await snapshot(), "rebuildAggregates")
                // The sums kept as attempts arrived equal the sums counted from scratch.
                try await rebuildSums()
                compare(before, try await snapshot(), "rebuild_team_question_sums")

                // ben leaves: his part is taken out, exactly.
                #expect(try await client.json(.delete, "/v1/teams/\(p.teamA)/membership", token: p.ben).status == .noContent)
                let left = try await snapshot()
                #expect(left[sums] != before[sums])
                try await rebuildSums()
                compare(left, try await snapshot(), "after leaving, rebuild_team_question_sums")
            }
        }
    }

    /// A class pushing at the same moment: ten members, five pages each, all at once, while the team's question-report
    /// sums change under row locks instead of one team lock (migration 017). The sums kept as the pages arrived equal
    /// the sums counted from scratch afterwards, to the last digit.
    ///
    /// Folded both ways (in batches, and a learner at a time as on Citus, where only the second runs).
    @Test(arguments: TestDatabase.isCitus ? [true] : [false, true])
    func aClassPushingAtOnceKeepsTheReportSumsExact(foldingByLearner: Bool) async throws {
        try await withFoldingOff { configuration, pool async throws in
            let raw = """
                SELECT team_id, deck_id, first_only, question_id, learners, attempts, correct, trim_scale(sum_x), trim_scale(sum_xx),
                       trim_scale(sum_t), trim_scale(sum_tt), trim_scale(sum_xt), option_chosen, duration_histogram
                FROM team_question_sums s
                """
            /// The sums as a report reads them (`current`), or as kept in the table.
            @Sendable func snapshot(current: Bool = true) async throws -> [String] {
                try await pool.query(PostgresQuery(unsafeSQL: (current ? Self.currentSums : raw) + " ORDER BY 1, 2, 3, 4")).map { row in
                    (0..<row.count).map { row[$0] ?? "NULL" }.joined(separator: "|")
                }
            }
            let store = PostgresStore(pool: pool)
            try await app(configuration).test(.router) { client in
                let root = try await client.account("root")
                let made = try await client.json(.post, "/v1/teams", token: root, ["name": "Class"])
                let team = try #require(made.body["id"] as? Int64 ?? (made.body["id"] as? Int).map(Int64.init), "\(made.body)")
                let code = try await invite(client, root, team: team, maxUses: 10)
                var learners: [String] = []
                for i in 0..<10 {
                    let token = try await client.account("pupil\(i)")
                    try await join(client, token, code)
                    learners.append(token)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, token) in learners.enumerated() {
                        group.addTask {
                            var rng = SeededGenerator(seed: UInt64(i))
                            for page in 0..<5 {
                                let answers = (0..<20).map { k in
                                    (
                                        Int.random(in: 0..<Self.deck.questions.count, using: &rng), Bool.random(using: &rng),
                                        "2026-11-25T\(String(format: "%02d", 8 + page)):\(String(format: "%02d", k)):00Z",
                                        Int64.random(in: 1_500...90_000, using: &rng)
                                    )
                                }
                                try await push(client, token, answers)
                                // Folds of the learners' totals run among the pushes, as the server's folder does.
                                if page % 2 == 1 { _ = try await store.foldQuestionSums(moves: 50, learners: 3, byLearner: foldingByLearner) }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let kept = try await snapshot()
                #expect(kept.contains { !$0.contains("|0|0|0|") })
                // The last pages' totals are not folded yet; folding them changes nothing a report reads.
                #expect(try await Self.unsummed(pool) > 0)
                while try await store.foldQuestionSums(moves: 100, learners: 4, byLearner: foldingByLearner) != (0, 0) {}
                let folded = try await snapshot()
                #expect(kept == folded, "\(zip(kept, folded).filter { $0.0 != $0.1 }.prefix(3))")
                let foldedRaw = try await snapshot(current: false)
                try await pool.query("SELECT rebuild_team_question_sums(team_id, deck_id) FROM team_decks")
                let counted = try await snapshot()
                #expect(kept == counted, "\(zip(kept, counted).filter { $0.0 != $0.1 }.prefix(3))")
                #expect(try await snapshot(current: false) == foldedRaw)
            }
        }
    }

    /// A member's push records their question parts as the sums hold them, and the fold moves the sums (SQL/027). While
    /// parts are pending, a report reads what the fold will leave; a deck's sums rebuilt from scratch (as a publish
    /// does) and a member leaving (which folds their parts first) keep that exact; the fold then changes nothing a
    /// report reads, and leaves the sums a rebuild counts.
    @Test func pendingPartsReadFoldAndRebuildExactly() async throws {
        try await withFoldingOff { configuration, pool async throws in
            @Sendable func snapshot() async throws -> [String] {
                try await pool.query(PostgresQuery(unsafeSQL: Self.currentSums + " ORDER BY 1, 2, 3, 4")).map { row in
                    (0..<row.count).map { row[$0] ?? "NULL" }.joined(separator: "|")
                }
            }
            @Sendable func pending() async throws -> Int {
                try await pool.query("SELECT count(*) FROM question_parts_pending").scalar(Int.self) ?? -1
            }
            @Sendable func expectSame(_ a: [String], _ b: [String], _ step: String) {
                #expect(a == b, "\(step): \(zip(a, b).filter { $0.0 != $0.1 }.prefix(3))")
            }
            let store = PostgresStore(pool: pool)
            try await app(configuration).test(.router) { client in
                let root = try await client.account("root")
                let made = try await client.json(.post, "/v1/teams", token: root, ["name": "Class"])
                let team = try #require(made.body["id"] as? Int64 ?? (made.body["id"] as? Int).map(Int64.init), "\(made.body)")
                let code = try await invite(client, root, team: team)
                var rng = SeededGenerator(seed: 27)
                var pupils: [String] = []
                for i in 0..<4 {
                    let token = try await client.account("pupil\(i)")
                    try await join(client, token, code)
                    pupils.append(token)
                }
                func page(_ hour: Int) -> [(Int, Bool, String, Int64)] {
                    (0..<20).map { k in
                        (
                            Int.random(in: 0..<Self.deck.questions.count, using: &rng), Bool.random(using: &rng),
                            "2026-11-25T\(String(format: "%02d", hour)):\(String(format: "%02d", k)):00Z",
                            Int64.random(in: 1_500...90_000, using: &rng)
                        )
                    }
                }
                for (i, token) in pupils.enumerated() {
                    try await push(client, token, page(8 + i))
                    try await push(client, token, page(9 + i))
                }
                #expect(try await pending() == 4)
                let kept = try await snapshot()
                #expect(kept.contains { !$0.contains("|0|0|0|") })

                // Rebuilt from scratch with parts pending: the pending parts of the deck become what was summed.
                try await pool.query("SELECT rebuild_team_question_sums(team_id, deck_id) FROM team_decks")
                expectSame(kept, try await snapshot(), "rebuilt while parts are pending")
                #expect(try await pending() == 4)

                // More answers from one, and another leaves with parts pending: theirs are folded before their part goes.
                try await push(client, pupils[0], page(14))
                #expect(try await client.json(.delete, "/v1/teams/\(team)/membership", token: pupils[1]).status == .noContent)
                #expect(try await pending() == 3)
                let left = try await snapshot()
                #expect(left != kept)
                while try await store.foldQuestionSums(moves: 100, learners: 2) != (0, 0) {}
                #expect(try await Self.unsummed(pool) == 0)
                expectSame(left, try await snapshot(), "folded")
                try await pool.query("SELECT rebuild_team_question_sums(team_id, deck_id) FROM team_decks")
                expectSame(left, try await snapshot(), "rebuilt after the fold")
            }
        }
    }

    /// Every team's question-report sums as a report reads them (SQL/018: the rows kept, plus the learners' totals not
    /// folded in yet and the moves pushes appended), numbers without trailing zeros.
    static let currentSums = """
        SELECT s.team_id, s.deck_id, s.first_only, s.question_id, s.learners, s.attempts, s.correct, trim_scale(s.sum_x), trim_scale(s.sum_xx),
               trim_scale(s.sum_t), trim_scale(s.sum_tt), trim_scale(s.sum_xt), s.option_chosen, s.duration_histogram
        FROM team_decks td CROSS JOIN (VALUES (true), (false)) AS f(first_only), team_question_sums_current(td.team_id, td.deck_id, f.first_only) s
        """

    /// How many moves, learners' deck totals and learners' pending parts the sums do not hold yet.
    static func unsummed(_ pool: PostgresPool) async throws -> Int {
        try await pool.query(
            """
            SELECT (SELECT count(*) FROM learner_deck_totals WHERE t <> t_summed) + (SELECT count(*) FROM team_question_sum_moves)
                 + (SELECT count(*) FROM question_parts_pending)
            """
        ).scalar(Int.self) ?? 0
    }

    /// A person types the code after `study team join`: letters and digits only, so it is never read as an option
    /// (a base64url code began with '-' once in 64 and the CLI refused it) and needs no quoting. 150 codes, each
    /// different, each 17 characters.
    @Test func inviteCodesAreLettersAndDigits() async throws {
        try await app().test(.router) { client in
            let root = try await client.account("root")
            let team = try await client.json(.post, "/v1/teams", token: root, ["name": "Codes"])
            let id = try #require(team.body["id"] as? Int64 ?? (team.body["id"] as? Int).map(Int64.init), "\(team.body)")
            var codes: Set<String> = []
            for _ in 0..<150 { codes.insert(try await invite(client, root, team: id)) }
            #expect(codes.count == 150)
            for code in codes {
                #expect(code.count == 17 && code.unicodeScalars.allSatisfy { $0.isASCII && CharacterSet.alphanumerics.contains($0) }, "\(code)")
            }
        }
    }

    @Test func invitesExpireAndRunOutAndDecksReachMembers() async throws {
        try await app().test(.router) { client in
            let p = try await setUp(client)
            let once = try await invite(client, p.ivy, team: p.teamA, maxUses: 1)
            let newcomer = try await client.account("newcomer")
            try await join(client, newcomer, once)
            let again = try await client.json(.post, "/v1/teams/join", token: newcomer, ["code": once])
            #expect(again.status == .ok)  // already a member: nothing spent
            let late = try await client.json(.post, "/v1/teams/join", token: p.lea, ["code": once])
            #expect(late.status == .gone && late.body["error"] as? String == "invite_used_up")
            let instructorInvite = try await client.json(.post, "/v1/teams/\(p.teamA)/invites", token: p.ivy, ["role": "instructor"]).body
            #expect(instructorInvite["role"] as? String == "instructor")
            let badZone = try await client.json(.post, "/v1/teams", token: p.ivy, ["name": "Z", "timeZone": "Mars/Olympus"])
            #expect(badZone.status == .badRequest && (badZone.body["message"] as? String)?.contains("IANA") == true)

            let published = try await client.json(
                .post, "/v1/teams/\(p.teamA)/decks", token: p.ivy,
                PublishBody(name: "Extra", questions: [.init(prompt: "Two plus two?", options: ["3", "4"], correct: [1])]))
            let deckID = try #require((published.body["deck"] as? [String: Any])?["deckId"] as? String)
            let listed = try await client.json(.get, "/v1/decks", token: p.amy).body["decks"] as? [[String: Any]] ?? []
            #expect(listed.contains { $0["deckId"] as? String == deckID })
            #expect(listed.contains { $0["deckId"] as? String == Self.deck.id })  // the bundled deck, from the start
            let fetched = try await client.json(.get, "/v1/decks/\(deckID)", token: p.amy).body
            #expect((fetched["questions"] as? [[String: Any]])?.first?["prompt"] as? String == "Two plus two?")
            let broken = try await client.json(
                .post, "/v1/teams/\(p.teamA)/decks", token: p.ivy,
                PublishBody(name: "Bad", questions: [.init(prompt: "Q?", options: ["only"], correct: [0])]))
            #expect(broken.status == .badRequest)
        }
    }
}

struct PublishBody: Codable, Sendable {
    struct Q: Codable, Sendable { let prompt: String; let options: [String]; let correct: [Int] }
    let name: String
    let questions: [Q]
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
