import EmbeddedPostgres
import Foundation
import LibPQ
import StudyClient

#if canImport(Glibc)
    import Glibc
#endif

/// A class syncing at once, after a lesson: `learners` learners each answer 20 questions and sync (`GET /v1/meta`,
/// then the push of those 20 with the pull, as `study sync` does), again and again for `seconds`, all at the same time;
/// once as learners in no team, once as the members of one team (whose board and question reports every push moves),
/// alternated for `rounds` rounds on one server, with distinct learners each time. It prints the syncs per second and
/// the latency of a sync at the median and the 99th percentile, and the ratio of the two shapes:
///
///     studysync-bench class [LEARNERS=50] [SECONDS=60] [ROUNDS=1]
enum ClassBench {
    static func run(learners: Int, seconds: Int, rounds: Int) async throws {
        Bench.say("StudySync, a class syncing at once — \(ISO8601DateFormatter().string(from: Date())) — \(Bench.machineDescription())")
        Bench.say("\(learners) learners, each answering 20 questions and syncing, again and again for \(seconds) s; \(rounds) round(s)")
        // With BENCH_STATEMENTS set, PostgreSQL's statistics of statements (functions' statements included) are kept,
        // and each shape's most costly statements printed after it: where the team's extra time goes.
        let statements = getenv("BENCH_STATEMENTS") != nil
        let postgres = try LocalPostgres.startTemporary(
            durable: true, settings: statements ? ["shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = all"] : [])
        defer { try? postgres.stop() }
        let port = 18_000 + Int.random(in: 0..<2_000)
        let server = try Bench.startServer(port: port, database: postgres.url)
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        try await Bench.waitForServer(url)
        // The first account of a server is its admin, who may make teams.
        let teacher = try await Home.login(url, user: "teacher", register: true)
        // A server takes 20 accounts an hour from one address; the benchmark makes them all from 127.0.0.1, and forgets
        // its registrations (in the shared log, PostgreSQL's `login_failures`) as it goes.
        let pool = PostgresPool(configuration: postgres.configuration, size: 1)
        defer { Task { await pool.close() } }
        if statements { try await pool.query("CREATE EXTENSION pg_stat_statements") }

        var results: [(team: Bool, syncsPerSecond: Double, p50: Double, p99: Double)] = []
        for round in 0..<rounds {
            for inTeam in [false, true] {
                var homes: [Home] = []
                var invite: String?
                if inTeam {
                    let team = try await teacher.api.createTeam(name: "Class \(round)", timeZone: "Europe/Berlin", weekStart: 1)
                    // As after a lesson: the deck the class answers is the team's, so every push also moves the
                    // question report's sums of the questions it answered (the same 21 for all 50).
                    _ = try await teacher.api.publish(try teacher.store.requireDeck("ml-deployment"), team: team.id)
                    invite = try await teacher.api.invite(team: team.id, role: "member", maxUses: learners, expiresInHours: 1).code
                }
                for i in 0..<learners {
                    if i % 10 == 0 { try await pool.query("DELETE FROM login_failures") }
                    let home = try await Home.login(url, user: "r\(round)\(inTeam ? "team" : "solo")\(i)", register: true)
                    if let invite { _ = try await home.api.join(code: invite) }
                    homes.append(home)
                }
                let shape = inTeam ? "one team" : "no team"
                if statements { try await pool.query("SELECT pg_stat_statements_reset()") }
                // With BENCH_MARKS set, the moment the syncs start (after the accounts' slow password hashes): a perf
                // window begun after it profiles the syncs alone.
                if getenv("BENCH_MARKS") != nil { Bench.say("  syncing: \(shape)") }
                let latencies = try await classSyncs(homes, seconds: seconds)
                if statements { try await printStatements(pool) }
                let sorted = latencies.sorted()
                let result = (
                    team: inTeam, syncsPerSecond: Double(sorted.count) / Double(seconds), p50: sorted[sorted.count / 2],
                    p99: sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
                )
                results.append(result)
                Bench.say(
                    "  round \(round + 1), \(shape): \(String(format: "%.0f", result.syncsPerSecond)) syncs/s, p50 "
                        + "\(String(format: "%.0f", result.p50 * 1000)) ms, p99 \(String(format: "%.0f", result.p99 * 1000)) ms")
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let solo = results.filter { !$0.team }, team = results.filter(\.team)
        let ratio = median(team.map(\.syncsPerSecond)) / median(solo.map(\.syncsPerSecond))
        Bench.say(
            "one team / no team, syncs per second: \(String(format: "%.2f", ratio)) (bar: at least 0.90: \(ratio >= 0.9 ? "holds" : "does not hold"))"
        )
    }

    /// The 20 statements that took the most time since the last reset: calls, total milliseconds, the statement.
    static func printStatements(_ pool: PostgresPool) async throws {
        let rows = try await pool.query(
            """
            SELECT calls, round(total_exec_time)::bigint, left(regexp_replace(query, '\\s+', ' ', 'g'), 140)
            FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 20
            """)
        for row in rows {
            let (calls, milliseconds) = (try row.decode(Int64.self, at: 0), try row.decode(Int64.self, at: 1))
            Bench.say("    \(calls) calls, \(milliseconds) ms: \(try row.decode(String.self, at: 2))")
        }
    }

    /// Every home answers 20 questions and syncs, over and over until `seconds` have passed; the latency of each sync.
    static func classSyncs(_ homes: [Home], seconds: Int) async throws -> [Double] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        return try await withThrowingTaskGroup(of: [Double].self) { group in
            for (i, home) in homes.enumerated() {
                group.addTask {
                    var latencies: [Double] = []
                    var round: UInt64 = 0
                    var last: Int64 = .min
                    while ContinuousClock.now < deadline {
                        round += 1
                        // Answered since the last sync: after what that sync sent, a minute ago at the earliest.
                        let now = Int64(Date().timeIntervalSince1970 * 1000)
                        last = try home.fill(20, seed: UInt64(i) << 32 | round, after: max(last, now - 60_000))
                        let duration = try await Bench.timed { _ = try await home.sync() }
                        latencies.append(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
                    }
                    return latencies
                }
            }
            var all: [Double] = []
            for try await latencies in group { all += latencies }
            return all
        }
    }
}
