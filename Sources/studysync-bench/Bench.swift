import EmbeddedPostgres
import Foundation
import LibPQ
import StudyAPI
import StudyClient
import StudyCore
import StudyPostgres

#if canImport(Glibc)
    import Glibc
#endif

/// Drives the real sync protocol over loopback against a `study-server` process backed by a private PostgreSQL with
/// durable settings, and prints wall time, attempts per second and the server's peak memory for each shape of work,
/// beside the raw COPY rate of the same rows measured in the same run.
///
///     swift build -c release && .build/release/studysync-bench
///     .build/release/studysync-bench scale [LEARNERS] [ATTEMPTS_PER_LEARNER]   # teams at scale (ScaleBench.swift)
///     .build/release/studysync-bench class [LEARNERS] [SECONDS] [ROUNDS]       # a class syncing at once (ClassBench.swift)
///     .build/release/studysync-bench peer --json FILE …                          # the Anki peer's shapes (PeerBench.swift)
///     .build/release/studysync-bench topology DATABASE_URL                       # the sync shapes on a database you give
@main
struct Bench {
    /// A mistake in the command line or a failed run is one sentence on standard error and status 1, not a trap.
    static func main() async {
        do {
            try await run()
        } catch {
            FileHandle.standardError.write(Data("studysync-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run() async throws {
        if CommandLine.arguments.dropFirst().first == "scale" {
            let numbers = CommandLine.arguments.dropFirst(2).compactMap { Int($0) }
            return try await ScaleBench.run(learners: numbers.first ?? 1_000, attemptsPerLearner: numbers.dropFirst().first ?? 10_000)
        }
        if CommandLine.arguments.dropFirst().first == "codec" { return try CodecBench.run() }
        if CommandLine.arguments.dropFirst().first == "class" {
            let numbers = CommandLine.arguments.dropFirst(2).compactMap { Int($0) }
            return try await ClassBench.run(
                learners: numbers.first ?? 50, seconds: numbers.dropFirst().first ?? 60, rounds: numbers.dropFirst(2).first ?? 1)
        }
        if CommandLine.arguments.dropFirst().first == "peer" { return try await PeerBench.run(Array(CommandLine.arguments.dropFirst(2))) }
        if CommandLine.arguments.dropFirst().first == "store" { return try StoreBench.run() }
        if CommandLine.arguments.dropFirst().first == "topology" {
            guard let database = CommandLine.arguments.dropFirst(2).first else { throw BenchError("give the database's URL: topology DATABASE_URL") }
            return try await TopologyBench.run(database: database)
        }
        let machine = machineDescription()
        print("StudySync sync benchmark — \(ISO8601DateFormatter().string(from: Date())) — \(machine)")
        let postgres = try LocalPostgres.startTemporary(durable: true)
        defer { try? postgres.stop() }
        if let slow = ProcessInfo.processInfo.environment["BENCH_LOG_STATEMENTS_MS"] {
            // Logs statements slower than this many milliseconds to postgres.log, copied to /tmp at the end.
            let pool = PostgresPool(configuration: postgres.configuration, size: 1)
            try await pool.query(PostgresQuery(unsafeSQL: "ALTER SYSTEM SET log_min_duration_statement = \(Int(slow) ?? 50)"))
            try await pool.query("SELECT pg_reload_conf()")
            await pool.close()
        }
        defer {
            if ProcessInfo.processInfo.environment["BENCH_LOG_STATEMENTS_MS"] != nil {
                try? FileManager.default.removeItem(atPath: "/tmp/studysync-bench-postgres.log")
                try? FileManager.default.copyItem(
                    atPath: postgres.dataDirectory.deletingLastPathComponent().appendingPathComponent("postgres.log").path,
                    toPath: "/tmp/studysync-bench-postgres.log")
            }
        }
        let port = 18_000 + Int.random(in: 0..<2_000)
        let server = try startServer(port: port, database: postgres.url)
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        try await waitForServer(url)
        let startMemory = memoryMiB(pid: server.processIdentifier, field: "VmRSS:")
        var rows: [(String, Int, Duration)] = []
        let cpu = CPUMeter(server: server.processIdentifier, postgresData: postgres.dataDirectory)
        var cpuRows: [(String, CPUMeter.Split, peakMiB: Int)] = []
        var peak = startMemory
        /// Runs one shape of work, timing it and noting the CPU each process spent on it and the server's peak memory
        /// during it (the kernel's high-water mark is reset first, to the memory the server holds then).
        func measure(_ name: String, _ count: Int, _ body: @Sendable () async throws -> Void) async throws {
            try? "5".write(toFile: "/proc/\(server.processIdentifier)/clear_refs", atomically: false, encoding: .utf8)
            let before = cpu.sample()
            let start = monotonicSeconds()
            let duration = try await timed(body)
            rows.append((name, count, duration))
            let phasePeak = memoryMiB(pid: server.processIdentifier, field: "VmHWM:")
            peak = max(peak, phasePeak)
            cpuRows.append((name, cpu.sample() - before, phasePeak))
            // For `perf record -k CLOCK_MONOTONIC` then `perf report --time START,END`.
            if ProcessInfo.processInfo.environment["BENCH_PHASE_TIMES"] != nil {
                FileHandle.standardError.write("phase \(name): \(String(format: "%.6f,%.6f", start, monotonicSeconds()))\n".data(using: .utf8)!)
            }
        }

        var copyRows: [Attempt] = []  // device A's 100k offline attempts, for the raw COPY of the same rows
        for size in [1_000, 10_000, 100_000] {
            let user = "push\(size)"
            let a = try await Home.login(url, user: user, register: true)
            try a.fill(size, seed: UInt64(size))
            if size == 100_000 { copyRows = try a.store.attempts() }
            try await measure("push \(size) offline attempts (device A)", size) { _ = try await a.sync() }
            let b = try await Home.login(url, user: user, register: false)
            try await measure("pull \(size) attempts (device B)", size) { _ = try await b.sync() }
            let received = try b.store.attempts().count
            guard received == size else { throw BenchError("device B received \(received) of \(size) attempts") }
            if size == 10_000 {
                var samples: [Duration] = []
                for _ in 0..<21 { samples.append(try await timed { _ = try await b.sync() }) }
                rows.append(("sync with nothing new (median of 21)", 0, samples.sorted()[10]))
            }
        }

        var homes: [Home] = []
        for i in 0..<8 {
            let home = try await Home.login(url, user: "crowd\(i)", register: true)
            try home.fill(10_000, seed: UInt64(1_000 + i))
            homes.append(home)
        }
        let crowdHomes = homes
        try await measure("8 users x 10000 at the same moment", 80_000) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for home in crowdHomes { group.addTask { _ = try await home.sync() } }
                try await group.waitForAll()
            }
        }

        // Syncs with nothing new, one after another: what one costs the server and PostgreSQL (SCALING.md's capacity).
        let idle = crowdHomes[0]
        try await measure("200 syncs with nothing new, in a row", 0) { for _ in 0..<200 { _ = try await idle.sync() } }

        let copies = try await copyRates(postgres, attempts: copyRows, user: "push100000", pushedBefore: ["push1000", "push10000"])
        let bytesPerAttempt = try await storagePerAttempt(postgres)

        print("")
        print(pad("work", 40) + pad("wall", 12) + "attempts/s")
        for (name, count, duration) in rows {
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            print(pad(name, 40) + pad(format(duration), 12) + (count > 0 ? String(Int(Double(count) / seconds)) : "-"))
        }
        print(pad("raw COPY of the same rows, empty table", 40) + pad(format(copies.empty.duration), 12) + String(Int(copies.empty.rate)))
        print(pad("raw COPY, as the push found the table", 40) + pad(format(copies.asFound.duration), 12) + String(Int(copies.asFound.rate)))
        if let push = rows.first(where: { $0.0.hasPrefix("push 100000") }) {
            let rate = 100_000 / (Double(push.2.components.seconds) + Double(push.2.components.attoseconds) / 1e18)
            print(
                "100k push rate / raw COPY rate: \(String(format: "%.2f", rate / copies.asFound.rate)) (table as the push found it), "
                    + "\(String(format: "%.2f", rate / copies.empty.rate)) (empty table)")
        }
        print("server peak memory (VmHWM): \(peak) MiB (\(startMemory) MiB when it had started; each phase's below)")
        print("storage per attempt, its table and indexes: \(bytesPerAttempt) bytes")
        if let crowd = cpuRows.first(where: { $0.0.hasPrefix("8 users") }), let noop = cpuRows.first(where: { $0.0.hasPrefix("200 syncs") }) {
            let pushCPU = (crowd.1.server + crowd.1.postgres) * 1000 / 80
            let noopCPU = (noop.1.server + noop.1.postgres) * 1000 / 200
            print(
                "server + PostgreSQL CPU: \(String(format: "%.1f", pushCPU)) ms per 1,000 attempts pushed (8 users at once), "
                    + "\(String(format: "%.2f", noopCPU)) ms per sync with nothing new")
        }
        print("")
        print(pad("CPU time spent on it (ms)", 40) + pad("client", 10) + pad("server", 10) + pad("PostgreSQL", 12) + "server peak MiB")
        for (name, split, phasePeak) in cpuRows {
            print(
                pad(name, 40) + pad(String(format: "%.0f", split.client * 1000), 10) + pad(String(format: "%.0f", split.server * 1000), 10)
                    + pad(String(format: "%.0f", split.postgres * 1000), 12) + String(phasePeak))
        }
    }

    /// Prints a line at once, also when standard output is a file.
    static func say(_ line: String) {
        print(line)
        fflush(nil)
    }

    static func timed(_ body: @Sendable () async throws -> Void) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        return clock.now - start
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func format(_ d: Duration) -> String {
        let ms = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
        return ms >= 1000 ? String(format: "%.2f s", ms / 1000) : String(format: "%.1f ms", ms)
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

    static func startServer(port: Int, database: String) throws -> Process {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("study-server")
        let process = Process()
        process.executableURL = binary
        let logLevel = ProcessInfo.processInfo.environment["BENCH_SERVER_LOG_LEVEL"] ?? "warning"
        process.arguments = ["--port", String(port), "--database-url", database, "--log-level", logLevel, "--pool-size", "8"]
        try process.run()
        return process
    }

    static func waitForServer(_ url: String) async throws {
        for _ in 0..<200 {
            if let meta = try? await ServerAPI(server: url).meta(), meta.protocolVersion == SyncProtocol.version { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("study-server did not start on \(url)")
    }

    /// The raw COPY of the 100k attempts device A pushed, as rows of its user numbered 1, 2, …, in the binary form a push
    /// sends them in, written before the clock starts, in one transaction, into two tables with the columns and indexes of
    /// `attempts`: an empty one (the floor), and one holding what `attempts` held when that push began (the attempts of the
    /// users who pushed before it). The second is what the push's own COPY meets: its ids are UUIDv7, made at answer
    /// time, and the earlier users' later ids sort after them, so every one goes into the middle of the id index rather
    /// than onto its right edge, as into an empty table.
    /// The attempts table's size with its indexes, over its rows.
    static func storagePerAttempt(_ postgres: LocalPostgres) async throws -> Int64 {
        let pool = PostgresPool(configuration: postgres.configuration, size: 1)
        do {
            try await pool.query("VACUUM ANALYZE attempts")
            let bytes =
                try await pool.query(
                    "SELECT (pg_total_relation_size('attempts') / greatest((SELECT count(*) FROM attempts), 1))::bigint"
                ).scalar(Int64.self) ?? 0
            await pool.close()
            return bytes
        } catch {
            await pool.close()
            throw error
        }
    }

    static func copyRates(_ postgres: LocalPostgres, attempts: [Attempt], user: String, pushedBefore: [String]) async throws
        -> (empty: (duration: Duration, rate: Double), asFound: (duration: Duration, rate: Double))
    {
        let pool = PostgresPool(configuration: postgres.configuration, size: 1)
        defer { Task { await pool.close() } }
        guard let userID = try await pool.query("SELECT id FROM users WHERE username = \(user)").scalar(Int64.self) else {
            throw BenchError("there is no user \(user)")
        }
        var written = PostgresBinaryRows(fields: Int16(PostgresStore.attemptColumns.count))
        for (i, attempt) in attempts.enumerated() {
            PostgresStore.appendRow(attempt, to: &written, userID: userID, seq: Int64(i + 1), receivedAt: 1, flags: [])
        }
        let rows = written
        let columns = PostgresStore.attemptColumns.joined(separator: ", ")
        func copy(into table: String, filledWith users: [String]) async throws -> (duration: Duration, rate: Double) {
            try await pool.query("CREATE TABLE \(identifier: table) (LIKE attempts INCLUDING ALL)")
            if !users.isEmpty {
                try await pool.query(
                    """
                    INSERT INTO \(identifier: table) (\(unsafeRaw: columns)) SELECT \(unsafeRaw: columns) FROM attempts
                    WHERE user_id IN (SELECT id FROM users WHERE username = ANY(\(PostgresArray(users))::text[]))
                    """)
            }
            // Each probe starts with nothing left to write back: not the work of the shapes before it (eight learners'
            // pushes, the other probe), which the server's writers would otherwise be flushing meanwhile.
            try await pool.query("CHECKPOINT")
            let duration = try await timed {
                _ = try await pool.withTransaction { connection -> Int in
                    try await connection.copyBinary(into: table, columns: PostgresStore.attemptColumns, rows: rows)
                }
            }
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            return (duration, Double(attempts.count) / seconds)
        }
        return (try await copy(into: "copy_probe_empty", filledWith: []), try await copy(into: "copy_probe_as_found", filledWith: pushedBefore))
    }

    /// A memory figure of /proc/PID/status (VmHWM: the peak resident set; VmRSS: the current one), in MiB.
    static func memoryMiB(pid: Int32, field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
            let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return -1 }
        return kb / 1024
    }

    static func machineDescription() -> String {
        let cpu =
            (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("model name") }.map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
            ?? "unknown CPU"
        let memory = ProcessInfo.processInfo.physicalMemory / (1 << 30)
        return "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpu), \(memory) GiB, \(ProcessInfo.processInfo.operatingSystemVersionString)"
    }
}

/// CPU seconds used so far by this process (the client), the server, and PostgreSQL (the postmaster, its live children
/// and those it has reaped), from /proc.
struct CPUMeter {
    struct Split {
        var client = 0.0, server = 0.0, postgres = 0.0
        static func - (a: Split, b: Split) -> Split {
            Split(client: a.client - b.client, server: a.server - b.server, postgres: a.postgres - b.postgres)
        }
    }

    let server: Int32
    let postgresData: URL
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime (+ cutime + cstime when `children`) of a process, in seconds.
    func seconds(_ pid: Int32, children: Bool = false) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name: state is field 3; utime, stime, cutime, cstime are fields 14 to 17.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let values = fields[11...14].map { Double($0) ?? 0 }
        return (values[0] + values[1] + (children ? values[2] + values[3] : 0)) / ticks
    }

    func sample() -> Split {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let client = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        var postgres = 0.0
        if let text = try? String(contentsOf: postgresData.appendingPathComponent("postmaster.pid"), encoding: .utf8),
            let postmaster = text.split(separator: "\n").first.flatMap({ Int32($0) })
        {
            postgres = seconds(postmaster, children: true)
            let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            for pid in processes.compactMap({ Int32($0) }) {
                guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                    status.contains("\nPPid:\t\(postmaster)\n")
                else { continue }
                postgres += seconds(pid)
            }
        }
        return Split(client: client, server: seconds(server), postgres: postgres)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A study home logged in to the benchmark server.
final class Home: @unchecked Sendable {
    // Used by one task at a time.
    let directory: URL
    let store: LocalStore
    let api: ServerAPI
    /// The deck `fill` answers, read once: parsing it again for every batch (as a fresh `study` run does once) made this
    /// load generator, 50 homes in one process, spend a fifth of the machine on it in `class`, beside the server.
    private var deck: Deck?

    init(directory: URL, store: LocalStore, api: ServerAPI) {
        self.directory = directory
        self.store = store
        self.api = api
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    static func login(_ url: String, user: String, register: Bool) async throws -> Home {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("studysync-bench-\(UUID().uuidString)")
        let store = try LocalStore(directory: directory)
        let anonymous = try ServerAPI(server: url)
        if register { _ = try await anonymous.register(username: user, password: "benchmark password", displayName: nil) }
        let login = try await anonymous.login(username: user, password: "benchmark password", deviceID: store.deviceID, deviceName: "bench")
        return Home(directory: directory, store: store, api: try ServerAPI(server: url, token: login.token))
    }

    /// `count` offline attempts on the bundled deck, 4 s apart, each taking 1.5–9 s, with ids as `study` makes them: the
    /// shape of the Anki peer's reviews (../shared/peers/anki/bench.py). With `after`, they are answered one millisecond
    /// apart from just after it instead: a learner's answers since their last sync, which come after every answer synced
    /// before (as a class's learners answer), so that the server extends their progress rather than folding it again
    /// from all their attempts (what it does for answers that arrive out of time order, from another device). Returns the
    /// time of the last.
    @discardableResult
    func fill(_ count: Int, seed: UInt64, after: Int64? = nil) throws -> Int64 {
        let deck = try self.deck ?? store.requireDeck("ml-deployment")
        self.deck = deck
        let session = try store.startSession(deckID: deck.id, at: 1_700_000_000_000)
        var rng = SeededGenerator(seed: seed)
        let spacing: Int64 = after == nil ? 4_000 : 1
        let start = after.map { $0 + 1 } ?? Int64(Date().timeIntervalSince1970 * 1000) - Int64(count) * 4_000 - 60_000
        let attempts = (0..<count).map { i -> Attempt in
            let q = deck.questions[Int.random(in: 0..<deck.questions.count, using: &rng)]
            let chosen = Bool.random(using: &rng) ? q.correct : [(q.correct[0] + 1) % q.options.count]
            return Attempt(
                id: UUIDv7.make(milliseconds: start + Int64(i) * spacing, counter: i & UUIDv7.counterMask, device: store.deviceID)!,
                deviceID: store.deviceID, questionID: q.id, questionVersion: q.version, chosen: chosen, correct: q.grade(chosen),
                answeredAt: start + Int64(i) * spacing, durationMs: Int64.random(in: 1_500...9_000, using: &rng), sessionID: session)
        }
        try store.recordAll(attempts)
        return start + Int64(max(count - 1, 0)) * spacing
    }

    /// What `study sync` does: the server's limits and what it reads (`GET /v1/meta`, remembered from the last sync),
    /// then the sync, whose last answer lists the decks published to the learner's teams (a server before that is asked for
    /// them meanwhile), and the new ones received after it.
    func sync() async throws -> SyncEngine.Summary {
        // Read once and kept, as `study` keeps it in the home (for a day, or until the server refuses a request).
        let meta: MetaResponse
        if let remembered = try store.rememberedServerMeta(for: api.baseURL.absoluteString) {
            meta = remembered
        } else {
            meta = try await api.meta()
            try store.rememberServerMeta(meta, for: api.baseURL.absoluteString)
        }
        let features = ServerAPI.Features(meta: meta)
        let listing = features.decksInSync ? nil : Task { [api] in try await api.publishedDecks() }
        defer { listing?.cancel() }
        let summary = try await SyncEngine(store: store, transport: api.using(features), pageSize: SyncEngine.pageSize(for: meta)).run()
        let listed: [PublishedDeck]
        if let decks = summary.publishedDecks {
            listed = decks
        } else if let listing {
            listed = try await listing.value
        } else {
            listed = try await api.publishedDecks()
        }
        _ = try await store.receivePublishedDecks(listed, from: api)
        return summary
    }
}
