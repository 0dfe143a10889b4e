import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The sync shapes on a database you give (issue 21: one PostgreSQL beside a Citus cluster, `scripts/bench-citus`):
/// a `study-server` started on it, then a push and a pull of 10,000 attempts, a sync with nothing new (median of 21),
/// and two crowds pushing the same 80,000 attempts at once: 8 learners of 10,000 and 32 learners of 2,500 (the cost
/// per sync as learners are added). One `RESULT name milliseconds` line per shape, for the script to tabulate.
///
///     .build/release/studysync-bench topology DATABASE_URL     # an empty database, migrated by the server it starts
enum TopologyBench {
    static func run(database: String) async throws {
        let port = 22_000 + Int.random(in: 0..<2_000)
        let server = try Bench.startServer(port: port, database: database)
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        try await Bench.waitForServer(url)
        func result(_ name: String, _ duration: Duration) {
            let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
            Bench.say("RESULT \(name) \(String(format: "%.1f", ms))")
        }

        // The accounts made by the operator's command: registrations over HTTP are limited per address (20 an hour).
        let names = ["push10000"] + [(8, 10_000), (32, 2_500)].flatMap { learners, _ in (0..<learners).map { "crowd\(learners)-\($0)" } }
        for name in names { try addAccount(name, database: database) }

        let a = try await Home.login(url, user: "push10000", register: false)
        try a.fill(10_000, seed: 10_000)
        result("push-10k", try await Bench.timed { _ = try await a.sync() })
        let b = try await Home.login(url, user: "push10000", register: false)
        result("pull-10k", try await Bench.timed { _ = try await b.sync() })
        guard try b.store.attempts().count == 10_000 else { throw BenchError("device B did not receive the 10,000 attempts") }
        var idle: [Duration] = []
        for _ in 0..<21 { idle.append(try await Bench.timed { _ = try await b.sync() }) }
        result("sync-nothing-new", idle.sorted()[10])

        for (learners, each) in [(8, 10_000), (32, 2_500)] {
            var homes: [Home] = []
            for i in 0..<learners {
                let home = try await Home.login(url, user: "crowd\(learners)-\(i)", register: false)
                try home.fill(each, seed: UInt64(learners * 1_000 + i))
                homes.append(home)
            }
            let crowd = homes
            result(
                "crowd-\(learners)x\(each)",
                try await Bench.timed {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for home in crowd { group.addTask { _ = try await home.sync() } }
                        try await group.waitForAll()
                    }
                })
        }
    }

    /// `study-server users add NAME --password-stdin` on the database, with the password `Home.login` uses.
    static func addAccount(_ name: String, database: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("study-server")
        process.arguments = ["users", "add", name, "--password-stdin", "--database-url", database, "--log-level", "warning"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data("benchmark password\n".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("study-server users add \(name) failed") }
    }
}
