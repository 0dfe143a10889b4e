import Foundation
import Logging
import Metrics
import NIOPosix

/// A bounded pool of libpq connections.
///
/// Blocking libpq calls run on the pool's own `NIOThreadPool`; only a short statement is sent, and its answer waited for
/// for at most `answerInPlace`, on the caller's own (cooperative) thread (`AnswerInPlace`). One connection serves
/// one caller at a time. A connection that broke is closed and replaced; one handed back inside a transaction (say, after
/// the closure threw mid-transaction) is rolled back before anyone else gets it.
public final class PostgresPool: Sendable {
    public let configuration: PostgresConfiguration
    public let size: Int
    /// How long a caller waits for a free connection before `PostgresError.Kind.poolTimeout`.
    public let waitTimeout: Duration
    /// How long a caller waits on its own thread for a short statement's answer before the pool's threads wait for the
    /// rest (`AnswerInPlace`); zero: the pool's threads run every statement.
    public let answerInPlace: Duration
    let logger: Logger
    let threads: NIOThreadPool
    private let state: PoolState
    /// How many connections are leased now, read without waiting for `state` (`AnswerInPlace.quietPool`).
    let leased = LeaseCount()

    /// `name` tells this pool's metrics from another's (`pool="primary"`, `pool="read"`).
    public init(
        configuration: PostgresConfiguration, size: Int = 4, waitTimeout: Duration = .seconds(10), logger: Logger = Logger(label: "studysync.libpq"),
        name: String = "primary", answerInPlace: Duration = AnswerInPlace.defaultLimit
    ) {
        precondition(size > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.size = size
        self.waitTimeout = waitTimeout
        self.answerInPlace = answerInPlace
        self.logger = logger
        self.threads = NIOThreadPool(numberOfThreads: size)
        self.threads.start()
        self.state = PoolState(size: size, name: name)
    }

    /// Closes idle connections and stops the threads; callers waiting for a connection get `poolClosed`.
    public func close() async {
        // Dropping the idle connections finishes them (PQfinish in deinit); leased ones finish when given back.
        _ = await state.close()
        try? await threads.shutdownGracefully()
    }

    /// Leases a connection for the duration of `body`. The connection must not escape the closure.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        leased.count.add(1, ordering: .relaxed)
        defer { leased.count.subtract(1, ordering: .relaxed) }
        do {
            let result = try await body(PostgresConnection(raw: connection, threads: threads, answerInPlace: answerInPlace, leased: leased))
            await giveBack(connection)
            return result
        } catch {
            await giveBack(connection)
            throw error
        }
    }

    /// Runs `body` in a transaction on a leased connection: committed when it returns, rolled back when it throws.
    @discardableResult
    public func withTransaction<T: Sendable>(
        isolation: PostgresConnection.Isolation = .readCommitted, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection { try await $0.withTransaction(isolation: isolation, body) }
    }

    /// Runs one statement on any free connection.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { try await $0.query(query) }
    }

    /// Runs one statement on any free connection and lets `read` read its result in place (`PostgresConnection`).
    public func query<T: Sendable>(_ query: PostgresQuery, read: @escaping @Sendable (PostgresResultView) throws(PostgresError) -> T) async throws
        -> T
    {
        try await withConnection { try await $0.query(query, read: read) }
    }

    /// Opens every connection of the pool now instead of at first use, and runs `script` (one or more statements, no
    /// parameters) on each. A new PostgreSQL backend builds its catalog caches and compiles its functions on its first
    /// statements; a server that does this at start spares its first requests the cost. Each connection is held while
    /// the next one opens, so every one of them is new or idle; the first to fail ends it (the rest then open on use).
    public func warm(running script: String) async throws {
        func warm(_ remaining: Int) async throws {
            guard remaining > 0 else { return }
            try await withConnection { connection in
                try await connection.execute(script: script)
                try await warm(remaining - 1)
            }
        }
        try await warm(size)
    }

    /// The number of connections open now (leased or idle).
    public var openConnections: Int { get async { await state.open } }

    /// A connection for one caller. An idle connection whose server went away (a restart, a killed backend) is noticed
    /// here, before any statement is sent, and replaced.
    private func lease() async throws -> PQConnection {
        while true {
            switch try await state.acquire(timeout: waitTimeout) {
            case .existing(let connection):
                if connection.isAlive() { return connection }
                logger.debug("replacing a connection whose server went away while it was idle")
                await state.release(connection, usable: false)
            case .openNew:
                do {
                    return try await threads.runIfActive { [configuration, logger] in try PQConnection(configuration: configuration, logger: logger) }
                } catch {
                    await state.openFailed()
                    throw error
                }
            }
        }
    }

    private func giveBack(_ connection: PQConnection) async {
        connection.resetCancellation()
        var usable = connection.isUsable
        if usable && connection.inTransaction {
            do {
                try await threads.runIfActive { try connection.executeScript("ROLLBACK") }
            } catch {
                usable = false
            }
        }
        if !usable { logger.debug("closing a broken connection") }
        await state.release(connection, usable: usable)
    }
}

/// The pool's bookkeeping: idle connections, how many are open, and who waits.
actor PoolState {
    enum Grant: Sendable {
        case existing(PQConnection)
        /// A slot is reserved; the caller opens the connection itself, outside the actor.
        case openNew
    }

    let size: Int
    private(set) var open = 0
    private var idle: [PQConnection] = []
    private var waiters: [(id: UInt64, continuation: CheckedContinuation<Grant, any Error>)] = []
    private var nextID: UInt64 = 0
    private var closed = false
    /// What the pool is doing, for the server's metrics (no-ops unless a metrics backend is bootstrapped).
    private let inUse: Gauge
    private let waiting: Gauge

    init(size: Int, name: String) {
        self.size = size
        inUse = Gauge(label: "studysync_db_pool_connections_in_use", dimensions: [("pool", name)])
        waiting = Gauge(label: "studysync_db_pool_waiting", dimensions: [("pool", name)])
    }

    private func report() {
        inUse.record(open - idle.count)
        waiting.record(waiters.count)
    }

    func acquire(timeout: Duration) async throws -> Grant {
        if closed { throw PostgresError(kind: .poolClosed, message: "The connection pool is closed.") }
        defer { report() }
        if let connection = idle.popLast() { return .existing(connection) }
        if open < size {
            open += 1
            return .openNew
        }
        nextID += 1
        let id = nextID
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.append((id, continuation))
                report()
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    await self?.expire(
                        id,
                        PostgresError(
                            kind: .poolTimeout,
                            message: "No database connection became free within \(timeout); the server is overloaded or PostgreSQL is not answering.")
                    )
                }
            }
        } onCancel: {
            Task { await self.expire(id, CancellationError()) }
        }
    }

    func release(_ connection: PQConnection, usable: Bool) {
        defer { report() }
        if usable && !closed {
            if waiters.isEmpty {
                idle.append(connection)
            } else {
                waiters.removeFirst().continuation.resume(returning: .existing(connection))
            }
            return
        }
        open -= 1
        wakeOneToOpen()
    }

    func openFailed() {
        open -= 1
        wakeOneToOpen()
    }

    func close() -> [PQConnection] {
        closed = true
        for waiter in waiters { waiter.continuation.resume(throwing: PostgresError(kind: .poolClosed, message: "The connection pool is closed.")) }
        waiters = []
        let connections = idle
        open -= idle.count
        idle = []
        return connections
    }

    private func wakeOneToOpen() {
        guard !closed, open < size, !waiters.isEmpty else { return }
        open += 1
        waiters.removeFirst().continuation.resume(returning: .openNew)
    }

    private func expire(_ id: UInt64, _ error: any Error) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(throwing: error)
        report()
    }
}
