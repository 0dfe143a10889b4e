import Foundation
import LibPQ
import PostgresTestSupport
import Testing

@Suite struct ErrorClassTests {
    @Test func aDuplicateKeyIsAUniqueViolationWithDetail() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE u (name text PRIMARY KEY)")
            try await pool.query("INSERT INTO u VALUES (\("ada"))")
            await #expect {
                try await pool.query("INSERT INTO u VALUES (\("ada"))")
            } throws: { error in
                guard let error = error as? PostgresError else { return false }
                return error.kind == .uniqueViolation && error.sqlState == "23505" && error.detail == "Key (name)=(ada) already exists."
                    && !error.isRetryable
            }
        }
    }

    @Test func conflictingSerializableTransactionsRaiseARetryableSerializationFailure() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 2)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE acct (id int PRIMARY KEY, balance int)")
            try await pool.query("INSERT INTO acct VALUES (1, 100), (2, 100)")
            let first = AsyncGate(), second = AsyncGate()
            // Write skew: each reads both rows, then updates a different one. One of the two must fail.
            async let a: Void = pool.withTransaction(isolation: .serializable) { c in
                try await c.query("SELECT sum(balance) FROM acct")
                await first.open(); await second.wait()
                try await c.query("UPDATE acct SET balance = balance - 150 WHERE id = 1")
            }
            async let b: Void = pool.withTransaction(isolation: .serializable) { c in
                try await c.query("SELECT sum(balance) FROM acct")
                await second.open(); await first.wait()
                try await c.query("UPDATE acct SET balance = balance - 150 WHERE id = 2")
            }
            var failures: [PostgresError] = []
            do { try await a } catch { failures.append(try #require(error as? PostgresError)) }
            do { try await b } catch { failures.append(try #require(error as? PostgresError)) }
            #expect(failures.count == 1)
            #expect(failures.first?.kind == .serializationFailure)
            #expect(failures.first?.isRetryable == true)
        }
    }

    @Test func lockingRowsInOppositeOrdersRaisesARetryableDeadlock() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 2)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE r (id int PRIMARY KEY)")
            try await pool.query("INSERT INTO r VALUES (1), (2)")
            let first = AsyncGate(), second = AsyncGate()
            async let a: Void = pool.withTransaction { c in
                try await c.query("SELECT * FROM r WHERE id = 1 FOR UPDATE")
                await first.open(); await second.wait()
                try await c.query("SELECT * FROM r WHERE id = 2 FOR UPDATE")
            }
            async let b: Void = pool.withTransaction { c in
                try await c.query("SELECT * FROM r WHERE id = 2 FOR UPDATE")
                await second.open(); await first.wait()
                try await c.query("SELECT * FROM r WHERE id = 1 FOR UPDATE")
            }
            var kinds: [PostgresError.Kind?] = []
            do { try await a } catch { kinds.append((error as? PostgresError)?.kind) }
            do { try await b } catch { kinds.append((error as? PostgresError)?.kind) }
            #expect(kinds == [.deadlock])
        }
    }

    @Test func aTerminatedBackendIsConnectionLostAndIsReplaced() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let killer = PostgresPool(configuration: try TestDatabase.serverConfiguration(), size: 1)
            try await withPool(killer) { _ async throws in

                // Inside a lease, the caller sees the loss as a named error.
                await #expect {
                    try await pool.withConnection { c in
                        let pid = c.serverProcessID
                        try await killer.query("SELECT pg_terminate_backend(\(Int(pid)))")
                        try await c.query("SELECT 1")
                    }
                } throws: { ($0 as? PostgresError)?.kind == .connectionLost }
                // The broken connection was thrown away: the next caller gets a new one.
                let before = try await pool.withConnection { $0.serverProcessID }
                #expect(try await pool.query("SELECT 1").scalar(Int.self) == 1)

                // A connection killed while idle in the pool is replaced transparently by `query`.
                try await killer.query("SELECT pg_terminate_backend(\(Int(before)))")
                try await Task.sleep(for: .milliseconds(100))
                #expect(try await pool.query("SELECT 2").scalar(Int.self) == 2)
                #expect(await pool.openConnections == 1)
            }
        }
    }

    @Test func aStatementOverItsTimeoutIsCancelledByTheServer() async throws {
        var config = try await TestDatabase.fresh()
        config.statementTimeoutMs = 200
        let pool = PostgresPool(configuration: config, size: 1)
        try await withPool(pool) { pool async throws in
            await #expect {
                try await pool.query("SELECT pg_sleep(5)")
            } throws: { ($0 as? PostgresError)?.sqlState == "57014" }
            #expect(try await pool.query("SELECT 1").scalar(Int.self) == 1)
        }
    }

    @Test func anUnreachableServerFailsToConnectWithAClearMessage() async throws {
        var config = PostgresConfiguration(parameters: ["host": "/nonexistent-socket-dir", "port": "5", "user": "postgres", "dbname": "x"])
        config.connectTimeoutSeconds = 2
        let pool = PostgresPool(configuration: config, size: 1)
        try await withPool(pool) { pool async throws in
            await #expect {
                try await pool.query("SELECT 1")
            } throws: { error in
                guard let error = error as? PostgresError else { return false }
                return error.kind == .connectFailed && error.description.hasPrefix("Cannot connect to PostgreSQL:")
            }
        }
    }
}

@Suite struct PoolTests {
    @Test func sixtyFourTasksShareAPoolOfFourAndNeverExceedIt() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 4)
        try await withPool(pool) { pool async throws in
            let inFlight = Counter()
            let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        try await pool.withConnection { c in
                            let now = inFlight.change(+1)
                            defer { _ = inFlight.change(-1) }
                            #expect(now <= 4)
                            let echoed = try await c.query("SELECT \(i)::int, pg_sleep(0.01)").scalar(Int.self)
                            #expect(echoed == i)
                            return c.serverProcessID
                        }
                    }
                }
                return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
            }
            #expect(inFlight.peak <= 4)
            #expect(pids.count <= 4)
            #expect(await pool.openConnections <= 4)
        }
    }

    @Test func waitingForAFreeConnectionTimesOutWithAClearError() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1, waitTimeout: .milliseconds(300))
        try await withPool(pool) { pool async throws in
            let holding = AsyncGate(), release = AsyncGate()
            async let holder: Void = pool.withConnection { _ in
                await holding.open()
                await release.wait()
            }
            await holding.wait()
            await #expect {
                try await pool.query("SELECT 1")
            } throws: { error in
                guard let error = error as? PostgresError else { return false }
                return error.kind == .poolTimeout && error.message.hasPrefix("No database connection became free")
            }
            await release.open()
            try await holder
            #expect(try await pool.query("SELECT 1").scalar(Int.self) == 1)
        }
    }

    @Test func aConnectionGivenBackInsideAFailedTransactionIsRolledBackBeforeReuse() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE t (x int)")
            // The closure leaves a transaction open and failed, then returns without rolling back.
            try await pool.withConnection { c in
                try await c.query("BEGIN")
                try await c.query("INSERT INTO t VALUES (1)")
                _ = try? await c.query("SELECT 1/0")
            }
            let (count, one) = try await pool.withConnection { c in
                (try await c.query("SELECT count(*) FROM t").scalar(Int.self), try await c.query("SELECT 1").scalar(Int.self))
            }
            #expect(count == 0)
            #expect(one == 1)
        }
    }

    @Test func aTransactionRollsBackWhenItsClosureThrows() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE t (x int)")
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await pool.withTransaction { c in
                    try await c.query("INSERT INTO t VALUES (1)")
                    throw Boom()
                }
            }
            try await pool.withTransaction { c in try await c.query("INSERT INTO t VALUES (2)") }
            #expect(try await pool.query("SELECT array_agg(x)::text FROM t").scalar(String.self) == "{2}")
        }
    }

    @Test func warmingOpensEveryConnectionAndRunsTheScriptOnEach() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 4)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE warmed (pid int)")
            #expect(await pool.openConnections == 1)
            try await pool.warm(running: "INSERT INTO warmed VALUES (pg_backend_pid()); SELECT 1")
            #expect(await pool.openConnections == 4)
            // Four backends, each once: the connections are the pool's four, and each ran the whole script.
            #expect(try await pool.query("SELECT count(DISTINCT pid) FROM warmed").scalar(Int.self) == 4)
            #expect(try await pool.query("SELECT count(*) FROM warmed").scalar(Int.self) == 4)
            // Warming again opens nothing more: the idle connections are warmed again.
            try await pool.warm(running: "INSERT INTO warmed VALUES (pg_backend_pid())")
            #expect(await pool.openConnections == 4)
            #expect(try await pool.query("SELECT count(DISTINCT pid) FROM warmed").scalar(Int.self) == 4)

            // A script that fails throws, and the pool serves as before.
            await #expect { try await pool.warm(running: "SELECT * FROM no_such_table") } throws: {
                ($0 as? PostgresError)?.sqlState == "42P01"
            }
            #expect(try await pool.query("SELECT 1").scalar(Int.self) == 1)
        }
    }

    @Test func cancellingTheTaskCancelsTheRunningQuery() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in try await expectCancellingEndsAtOnce("SELECT pg_sleep(\(20.0))", on: pool) }
    }
}

/// Runs `sleep` (a statement of 20 s) in a task, cancels the task after 300 ms, and expects `CancellationError` and the
/// pool's only connection free again at once: without PQcancel the statement would hold it for 20 s.
func expectCancellingEndsAtOnce(_ sleep: PostgresQuery, on pool: PostgresPool) async throws {
    let started = ContinuousClock.now
    let task = Task { try await pool.query(sleep) }
    try await Task.sleep(for: .milliseconds(300))
    task.cancel()
    let result = await task.result
    #expect(throws: CancellationError.self) { try result.get() }
    #expect(try await pool.query("SELECT 1").scalar(Int.self) == 1)
    #expect(ContinuousClock.now - started < .seconds(15))
}

/// A short statement is sent and waited for on its caller's thread (`AnswerInPlace`); a slower one is handed to the
/// pool's threads, which read its answer. Each path gives the same rows and errors and leaves the connection usable.
@Suite struct AnswerInPlaceTests {
    @Test func statementsAnsweredInPlaceAndPastTheWaitGiveTheirRowsAndErrors() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1, answerInPlace: .milliseconds(1))
        try await withPool(pool) { pool async throws in
            // The first use of a statement prepares it, on the pool's threads; the later ones may be answered in place.
            for round in 0..<3 {
                #expect(try await pool.query("SELECT \(round)::int + 1").scalar(Int.self) == round + 1)
                // 30 ms: past the wait, so its answer is read on the pool's threads.
                #expect(try await pool.query("SELECT \(round)::int + 2 FROM pg_sleep(0.03)").scalar(Int.self) == round + 2)
                await #expect {
                    try await pool.query("SELECT 1 / \(0)::int")
                } throws: { ($0 as? PostgresError)?.sqlState == "22012" }
                await #expect {
                    try await pool.query("SELECT 1 / \(0)::int FROM pg_sleep(0.03)")
                } throws: { ($0 as? PostgresError)?.sqlState == "22012" }
                let rows = try await pool.query("SELECT g, repeat('x', g) FROM generate_series(1, \(200 + round)) g")
                #expect(rows.count == 200 + round)
                #expect(try rows.last?.decode(String.self, at: 1) == String(repeating: "x", count: 200 + round))
            }
            // Values too large to be sent at once go to the pool's threads.
            let large = String(repeating: "y", count: 100_000)
            for _ in 0..<2 { #expect(try await pool.query("SELECT length(\(large))").scalar(Int.self) == 100_000) }
        }
    }

    @Test func cancellingATaskThatWaitsInPlaceCancelsItsStatement() async throws {
        // A wait longer than the statement: the caller waits in place until the cancellation ends it.
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1, answerInPlace: .seconds(60))
        try await withPool(pool) { pool async throws in
            // Prepared first, so that the next call can be sent at once.
            try await pool.query("SELECT pg_sleep(\(0.0))")
            try await expectCancellingEndsAtOnce("SELECT pg_sleep(\(20.0))", on: pool)
        }
    }

    @Test func manyTasksAtOnceEachGetTheirOwnAnswer() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 4, answerInPlace: .milliseconds(1))
        try await withPool(pool) { pool async throws in
            let answers = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let sleep = i % 7 == 0 ? 0.005 : 0.0
                        return (i, try await pool.query("SELECT \(i)::int * 3 FROM pg_sleep(\(sleep))").scalar(Int.self) ?? -1)
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(answers.count == 200)
            #expect(answers.allSatisfy { $0.value == $0.key * 3 })
        }
    }
}

/// A one-shot signal between tasks.
actor AsyncGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        isOpen = true
        waiters.forEach { $0.resume() }
        waiters = []
    }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

final class Counter: @unchecked Sendable {
    // Guarded by `lock`.
    private var value = 0
    private(set) var peak = 0
    private let lock = NSLock()

    func change(_ delta: Int) -> Int {
        lock.withLock {
            value += delta
            peak = max(peak, value)
            return value
        }
    }
}
