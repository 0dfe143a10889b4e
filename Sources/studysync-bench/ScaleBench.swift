import EmbeddedPostgres
import Foundation
import LibPQ
import StudyAPI
import StudyClient
import StudyCore
import StudyPostgres

/// Issue 5's benchmark: one team of `learners` learners with `attemptsPerLearner` attempts each (10 million by
/// default) on a published 200-question deck, loaded with COPY; the caches rebuilt from the attempts; then the
/// leaderboard and the reports timed over repeated calls through a `study-server` process over HTTP.
enum ScaleBench {
    static func run(learners: Int, attemptsPerLearner: Int) async throws {
        Bench.say("StudySync teams at scale — \(ISO8601DateFormatter().string(from: Date())) — \(Bench.machineDescription())")
        Bench.say("\(learners) learners × \(attemptsPerLearner) attempts = \(learners * attemptsPerLearner) attempts on a 200-question deck")
        // BENCH_SCALE_DATA=DIR keeps the loaded cluster in DIR, so a rerun skips the load (it takes minutes at 10M).
        // BENCH_DATABASE_URL=URL loads an empty database of yours instead (a Citus coordinator: scripts/bench-citus).
        let given = ProcessInfo.processInfo.environment["BENCH_DATABASE_URL"]
        let kept = given == nil ? ProcessInfo.processInfo.environment["BENCH_SCALE_DATA"].map { URL(fileURLWithPath: $0) } : nil
        let postgres =
            given != nil
            ? nil : try kept.map { try LocalPostgres.startPersistent(dataDirectory: $0) } ?? LocalPostgres.startTemporary(durable: true)
        defer { try? postgres?.stop() }
        let databaseURL = given ?? postgres!.url
        let port = 20_000 + Int.random(in: 0..<2_000)
        let server = try Bench.startServer(port: port, database: databaseURL)
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        try await Bench.waitForServer(url)

        let anonymous = try ServerAPI(server: url)
        let password = "benchmark password"
        let deck = Deck(
            name: "scale-200",
            questions: (0..<200).map { n in
                Question(prompt: "Scale question \(n): which option is right?", options: (0..<4).map { "Option \($0) of \(n)" }, correct: [n % 4])
            })
        if kept != nil,
            let login = try? await anonymous.login(
                username: "teacher", password: password, deviceID: UUID().uuidString.lowercased(), deviceName: "bench")
        {
            let teacher = try ServerAPI(server: url, token: login.token)
            Bench.say("reusing the cluster loaded in \(kept!.path)")
            return try await measureAll(teacher: teacher, team: try await teacher.teams()[0], deck: deck, learners: learners, server: server)
        }

        // People and the team, through the API.
        _ = try await anonymous.register(username: "admin", password: password, displayName: nil)
        let admin = try ServerAPI(
            server: url,
            token: try await anonymous.login(username: "admin", password: password, deviceID: UUID().uuidString.lowercased(), deviceName: "bench")
                .token)
        _ = try await anonymous.register(username: "teacher", password: password, displayName: nil)
        _ = try await admin.setRole(username: "teacher", role: "instructor")
        let teacher = try ServerAPI(
            server: url,
            token: try await anonymous.login(username: "teacher", password: password, deviceID: UUID().uuidString.lowercased(), deviceName: "bench")
                .token)
        let team = try await teacher.createTeam(name: "Scale", timeZone: "Europe/Berlin", weekStart: 1)
        _ = try await teacher.publish(deck, team: team.id)

        // Learners and their attempts, straight into PostgreSQL.
        let pool = PostgresPool(configuration: try postgres?.configuration ?? PostgresConfiguration(url: databaseURL), size: 2)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await pool.query(
            """
            INSERT INTO users (username, display_name, password_hash, role, created_at)
            SELECT 'learner' || n, 'Learner ' || n, 'not a password hash: cannot log in', 'learner', \(now) FROM generate_series(1, \(learners)) n
            """)
        try await pool.query("INSERT INTO learner_counters (user_id) SELECT id FROM users WHERE username LIKE 'learner%'")
        try await pool.query(
            "INSERT INTO memberships (team_id, user_id, role, joined_at) SELECT \(team.id), id, 'member', \(now) FROM users WHERE username LIKE 'learner%'"
        )
        let ids = try await pool.query("SELECT id FROM users WHERE username LIKE 'learner%' ORDER BY id").column(Int64.self)
        let span: Int64 = 180 * 86_400_000
        let copyStart = ContinuousClock.now
        // As for any bulk load: the secondary index goes first and is built again once the rows are in (the same
        // definition as SQL/004_attempts.sql); maintained row by row it would slow the load several times here.
        // (On Citus there is no such index: ids are unique per learner there, and claimed in attempt_owners.)
        let idIndex = try await pool.query("SELECT to_regclass('attempts_id') IS NOT NULL").scalar(Bool.self) ?? false
        if idIndex { try await pool.query("DROP INDEX attempts_id") }
        var rng = SeededGenerator(seed: 5)
        for (n, userID) in ids.enumerated() {
            let skill = Double.random(in: 0.35...0.95, using: &rng)
            let device = UUIDv7.make(milliseconds: now, using: &rng), session = UUIDv7.make(milliseconds: now, using: &rng)
            let rows: [[String?]] = (0..<attemptsPerLearner).map { i in
                let q = Int.random(in: 0..<200, using: &rng)
                let question = deck.questions[q]
                let right = Double.random(in: 0...1, using: &rng) < skill - Double(q % 10 - 5) / 25
                let chosen = right ? question.correct[0] : (question.correct[0] + Int.random(in: 1...3, using: &rng)) % 4
                let at = now - span + Int64(i) * (span / Int64(attemptsPerLearner)) + Int64.random(in: 0..<60_000, using: &rng)
                return [
                    String(userID), String(i + 1), UUIDv7.make(milliseconds: at, using: &rng), device, question.id, question.version, "{\(chosen)}",
                    right ? "t" : "f", String(at), String(Int.random(in: 2_000...30_000, using: &rng)), session, String(now), "0",
                ]
            }
            try await pool.withTransaction { tx in
                _ = try await tx.copy(into: "attempts", columns: PostgresStore.attemptColumns, rows: rows)
                try await tx.query("UPDATE learner_counters SET attempt_seq = \(attemptsPerLearner) WHERE user_id = \(userID)")
            }
            if (n + 1) % 100 == 0 { Swift.print("  copied \((n + 1) * attemptsPerLearner) attempts", terminator: "\r"); fflush(nil) }
        }
        try await pool.withConnection { connection in
            // A bulk load's statements run as long as they need (on Citus, filling attempt_owners takes minutes).
            try await connection.query("SET statement_timeout = 0")
            try await connection.query("SET maintenance_work_mem = '1GB'")
            if idIndex {
                try await connection.query("CREATE UNIQUE INDEX attempts_id ON attempts (id)")
            } else {
                try await connection.query("INSERT INTO attempt_owners (id, user_id) SELECT id, user_id FROM attempts ON CONFLICT (id) DO NOTHING")
            }
        }
        let copied = ContinuousClock.now - copyStart
        let total = learners * attemptsPerLearner
        Bench.say(
            "COPY of \(total) attempts, indexes built after: \(Bench.format(copied)) (\(Int(Double(total) / seconds(copied))) rows/s)          ")

        let rebuildStart = ContinuousClock.now
        let store = PostgresStore(pool: pool)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<2 {
                group.addTask {
                    for userID in ids.enumerated().filter({ $0.offset % 2 == lane }).map(\.element) {
                        try await store.rebuildAggregates(userID: userID, at: now)
                    }
                }
            }
            try await group.waitForAll()
        }
        // As after any bulk load: dead row versions cleared and statistics gathered now, not by autovacuum mid-measurement.
        try await pool.query("VACUUM ANALYZE")
        Bench.say(
            "caches rebuilt from the attempts (progress, question stats, board aggregates): \(Bench.format(ContinuousClock.now - rebuildStart))")
        await pool.close()
        try await measureAll(teacher: teacher, team: team, deck: deck, learners: learners, server: server)
    }

    static func measureAll(teacher: ServerAPI, team: ServerAPI.Team, deck: Deck, learners: Int, server: Process) async throws {
        Bench.say("")
        Bench.say(
            Bench.pad("call (through HTTP, as the team's instructor)", 52) + Bench.pad("calls", 7) + Bench.pad("p50", 11) + Bench.pad("p99", 11)
                + "max")
        try await measure("leaderboard, this week", 300) { _ = try await teacher.leaderboard(team: team.id, window: "week", offset: 0, limit: 10) }
        try await measure("leaderboard, last week", 100) { _ = try await teacher.leaderboard(team: team.id, window: "week", offset: 1, limit: 10) }
        try await measure("leaderboard, this month", 100) { _ = try await teacher.leaderboard(team: team.id, window: "month", offset: 0, limit: 10) }
        try await measure("leaderboard, all time", 100) { _ = try await teacher.leaderboard(team: team.id, window: "all", offset: 0, limit: 10) }
        try await measure("question report, first attempts (200 questions)", 30) {
            _ = try await teacher.questionReport(team: team.id, deck: deck.id, attempts: "first")
        }
        try await measure("question report, all attempts (200 questions)", 30) {
            _ = try await teacher.questionReport(team: team.id, deck: deck.id, attempts: "all")
        }
        try await measure("learner report (\(learners) learners)", 30) { _ = try await teacher.learnerReport(team: team.id) }
        try await measure("one learner's report", 30) { _ = try await teacher.learnerDetail(team: team.id, username: "learner1") }
        try await measureMemberSyncs(teacher: teacher, team: team, deck: deck)
        Bench.say("server peak memory (VmHWM): \(Bench.memoryMiB(pid: server.processIdentifier, field: "VmHWM:")) MiB")
    }

    /// What the aggregates cost a pushing member: one more learner of the team syncs 20 new attempts at a time (the
    /// board's days and totals and the question-report sums of the questions answered change in each push's
    /// transaction), beside a learner in no team doing the same (the floor: no team aggregates at all), alternated in
    /// rounds of 25 so that both see the same machine.
    static func measureMemberSyncs(teacher: ServerAPI, team: ServerAPI.Team, deck: Deck) async throws {
        let url = teacher.baseURL.absoluteString
        let member = try await syncingLearner(url: url, deck: deck, name: "bench-member")
        // A member already (a kept cluster's earlier run) joins again: the server says so and changes nothing.
        _ = try await member.api.join(code: try await teacher.invite(team: team.id, role: "member", maxUses: 1, expiresInHours: 1).code)
        let loner = try await syncingLearner(url: url, deck: deck, name: "bench-loner")
        var inTeam: [Duration] = [], alone: [Duration] = []
        try await member.sync()
        try await loner.sync()  // warm
        for _ in 0..<4 {
            inTeam += try await samples(25) { try await member.sync() }
            alone += try await samples(25) { try await loner.sync() }
        }
        report("a member's sync of 20 new attempts", inTeam)
        report("the same, a learner in no team (the floor)", alone)
        Bench.say(
            "member / no team, p50: \(String(format: "%.2f", seconds(inTeam.sorted()[inTeam.count / 2]) / seconds(alone.sorted()[alone.count / 2])))")
    }

    /// A learner with a device who syncs 20 new attempts at a time, continuing from the cursor of the last sync.
    final class SyncingLearner {
        let api: ServerAPI
        let deviceID: String
        let deck: Deck
        var cursor: Int64 = 0

        init(api: ServerAPI, deviceID: String, deck: Deck) {
            self.api = api
            self.deviceID = deviceID
            self.deck = deck
        }

        /// When the last answer synced was made: the next are made after it.
        var last: Int64 = .min

        /// Syncs 20 answers made since the last sync (a minute ago at the earliest, one millisecond apart): after every
        /// answer synced before, so that the server extends the learner's progress rather than folding it again.
        func sync() async throws {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let start = max(now - 60_000, last + 1)
            let attempts = (0..<20).map { i in
                let question = deck.questions[Int.random(in: 0..<deck.questions.count)]
                let right = Bool.random()
                return Attempt(
                    id: UUIDv7.make(milliseconds: start + Int64(i)), deviceID: deviceID, questionID: question.id,
                    questionVersion: question.version,
                    chosen: right ? question.correct : [(question.correct[0] + 1) % question.options.count], correct: right,
                    answeredAt: start + Int64(i), durationMs: Int64.random(in: 2_000...30_000),
                    sessionID: UUIDv7.make(milliseconds: now))
            }
            let response = try await api.sync(SyncRequest(clientTime: now, cursor: cursor, attempts: attempts))
            guard response.results.allSatisfy({ $0.status == .inserted }) else {
                throw BenchError("a learner's push was not stored: \(response.results)")
            }
            cursor = response.cursor
            last = start + 19
        }
    }

    /// `name` with a new device: logged in when a kept cluster (`BENCH_SCALE_DATA`) has them from an earlier run, which
    /// registering two learners a run would soon stop (the server's limit on accounts made from one address in an hour),
    /// else registered. A learner from an earlier run first catches up with what that run synced, so that every measured
    /// sync pulls nothing and pushes answers made after all of theirs.
    static func syncingLearner(url: String, deck: Deck, name: String) async throws -> SyncingLearner {
        let anonymous = try ServerAPI(server: url)
        let password = "benchmark password"
        func logIn() async throws -> ServerAPI.Login {
            try await anonymous.login(username: name, password: password, deviceID: UUID().uuidString.lowercased(), deviceName: "bench")
        }
        let login: ServerAPI.Login
        if let earlier = try? await logIn() {
            login = earlier
        } else {
            _ = try await anonymous.register(username: name, password: password, displayName: nil)
            login = try await logIn()
        }
        let learner = SyncingLearner(api: try ServerAPI(server: url, token: login.token), deviceID: login.deviceId, deck: deck)
        // In small pages: the server's peak memory, which the benchmark reports, is then the measured work's.
        while true {
            let page = try await learner.api.sync(
                SyncRequest(clientTime: Int64(Date().timeIntervalSince1970 * 1000), cursor: learner.cursor, attempts: [], pullLimit: 500))
            learner.cursor = page.cursor
            learner.last = page.attempts.reduce(learner.last) { max($0, $1.attempt.answeredAt) }
            if !page.hasMore { return learner }
        }
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    static func samples(_ calls: Int, _ body: () async throws -> Void) async throws -> [Duration] {
        var samples: [Duration] = []
        for _ in 0..<calls {
            let start = ContinuousClock.now
            try await body()
            samples.append(ContinuousClock.now - start)
        }
        return samples
    }

    static func measure(_ name: String, _ calls: Int, _ body: () async throws -> Void) async throws {
        try await body()  // warm
        report(name, try await samples(calls, body))
    }

    static func report(_ name: String, _ unsorted: [Duration]) {
        let samples = unsorted.sorted(), calls = samples.count
        let p99 = samples[min(samples.count - 1, Int((Double(samples.count) * 0.99).rounded(.up)) - 1)]
        Bench.say(
            Bench.pad(name, 52) + Bench.pad(String(calls), 7) + Bench.pad(Bench.format(samples[samples.count / 2]), 11)
                + Bench.pad(Bench.format(p99), 11)
                + Bench.format(samples.last!))
    }
}
