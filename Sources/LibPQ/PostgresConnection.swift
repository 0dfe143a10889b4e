import Foundation
import NIOPosix
import Synchronization

/// A leased connection, handed to the closures of `PostgresPool.withConnection` and `withTransaction`. It must not escape
/// the closure: once the closure returns the pool gives the connection to someone else.
public struct PostgresConnection: Sendable {
    let raw: PQConnection
    let threads: NIOThreadPool
    /// The pool's `answerInPlace`.
    let answerInPlace: Duration
    /// How many of the pool's connections are leased.
    let leased: LeaseCount

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }

    /// The server process serving this connection (for `pg_cancel_backend` and tests).
    public var serverProcessID: Int32 { raw.serverProcessID }

    /// Runs one statement. Cancelling the Swift task cancels the statement on the server (`PQcancel`).
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await run(query) { raw throws(PostgresError) in try raw.rows() }
    }

    /// Runs one statement and lets `read` read its result in place (`PostgresResultView`), on the connection's thread,
    /// before libpq frees it: for large results, which `query(_:)` would first copy value by value into strings.
    public func query<T: Sendable>(_ query: PostgresQuery, read: @escaping @Sendable (PostgresResultView) throws(PostgresError) -> T) async throws
        -> T
    {
        try await run(query) { raw throws(PostgresError) in try raw.result(read: read) }
    }

    /// Runs SQL text holding several statements and no values, such as a migration file.
    public func execute(script: String) async throws {
        try await run { try $0.executeScript(script) }
    }

    /// Streams `rows` through `COPY <table> (<columns>) FROM STDIN`; returns the number of rows copied.
    @discardableResult
    /// `rows` may be lazy (`items.lazy.map { … }`): each row is then made as it is sent, and never all at once.
    public func copy(into table: String, columns: [String], rows: some Sequence<[String?]> & Sendable) async throws -> Int {
        let statement = copyStatement(into: table, columns: columns, options: "")
        return try await run { try $0.copy(statement, rows: rows) }
    }

    /// Sends `rows` through `COPY <table> (<columns>) FROM STDIN (FORMAT binary)`; returns the number of rows copied.
    /// Each row must hold one field per column, in their order.
    @discardableResult
    public func copyBinary(into table: String, columns: [String], rows: PostgresBinaryRows) async throws -> Int {
        let statement = copyStatement(into: table, columns: columns, options: " (FORMAT binary)")
        return try await run { try $0.copyBinary(statement, rows: rows) }
    }

    /// Sends `count` rows through `COPY <table> (<columns>) FROM STDIN (FORMAT binary)`, each written by `write` (row n,
    /// one field per column, in their order) just before it is sent; returns the number of rows copied.
    @discardableResult
    public func copyBinary(
        into table: String, columns: [String], count: Int, write: @escaping @Sendable (Int, inout PostgresBinaryRow) -> Void
    ) async throws -> Int {
        let statement = copyStatement(into: table, columns: columns, options: " (FORMAT binary)")
        return try await run { try $0.copyBinary(statement, fields: Int16(columns.count), count: count, write: write) }
    }

    /// Runs `body` inside BEGIN … COMMIT; throws after ROLLBACK when `body` throws.
    @discardableResult
    public func withTransaction<T: Sendable>(isolation: Isolation = .readCommitted, _ body: (PostgresConnection) async throws -> T) async throws -> T
    {
        try await query(PostgresQuery(unsafeSQL: "BEGIN ISOLATION LEVEL \(isolation.rawValue)"))
        do {
            let result = try await body(self)
            try await query("COMMIT")
            return result
        } catch {
            if raw.isUsable { _ = try? await threads.runIfActive { [raw] in try raw.executeScript("ROLLBACK") } }
            throw error
        }
    }

    /// Runs one statement and `answer` on its result. A short one is sent and waited for on the caller's thread
    /// (`AnswerInPlace`); one that is not answered by then, or that cannot be sent at once, on the pool's threads.
    private func run<T: Sendable>(
        _ query: PostgresQuery, answer: @escaping @Sendable (PQConnection) throws(PostgresError) -> T
    ) async throws -> T {
        let raw = self.raw
        try Task.checkCancellation()
        var sent = false
        if answerInPlace > .zero && leased.count.load(ordering: .relaxed) <= AnswerInPlace.quietPool && AnswerInPlace.take() {
            let outcome = try await sendAndWait(query)
            sent = outcome.sent
            if outcome.answered { return try Self.cancellable { try answer(raw) } }
        }
        // Once sent, the statement's answer must be read whatever happens, cancellation included (`run(checking:_:)`).
        return try await run(checking: !sent) { [sent] raw throws(PostgresError) in
            if !sent { try raw.send(query) }
            return try answer(raw)
        }
    }

    /// Sends `query` and waits for its answer on this thread (`answerInPlace`), in a slot of `AnswerInPlace` taken by the
    /// caller, which this gives back; returns whether it was sent and whether all of its answer has arrived.
    private func sendAndWait(_ query: PostgresQuery) async throws -> (sent: Bool, answered: Bool) {
        let raw = self.raw
        let limit = answerInPlace
        defer { AnswerInPlace.give() }
        return try await Self.cancellable {
            // A cancellation while it waits here cancels the statement on the server, which then answers at once.
            try await withTaskCancellationHandler {
                let sent = try raw.sendAtOnce(query)
                return (sent, try sent && raw.awaitAnswer(within: limit))
            } onCancel: {
                raw.cancel()
            }
        }
    }

    /// `body`'s result; its error, or `CancellationError` when it is a statement cancelled because the task was.
    private static func cancellable<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresError where error.kind == .queryCancelled && Task.isCancelled {
            throw CancellationError()
        }
    }

    private static func cancellable<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError where error.kind == .queryCancelled && Task.isCancelled {
            throw CancellationError()
        }
    }

    /// Runs `work` on the pool's threads. `checking`: a task cancelled already throws at once, before `work` starts
    /// (false when a statement is on its way, whose answer `work` reads: the cancellation then cancels it on the server).
    private func run<T: Sendable>(checking: Bool = true, _ work: @escaping @Sendable (PQConnection) throws -> T) async throws -> T {
        let raw = self.raw
        if checking { try Task.checkCancellation() }
        return try await Self.cancellable {
            try await withTaskCancellationHandler {
                try await threads.runIfActive { try work(raw) }
            } onCancel: {
                raw.cancel()
            }
        }
    }
}

/// Statements answered on the caller's thread. A statement run on the pool's threads wakes one of them to send it, and
/// its answer wakes the caller's task again: two thread wake-ups, which on this project's 2-core machine made a request
/// of two short statements (`GET /v1/progress`) take 0.81 ms against 0.65 answered in place, over an HTTP floor of 0.39
/// (`scripts/compare-requests`, docs/benchmarks.md). So a caller sends a short statement itself and waits for its
/// answer on its own thread, for at most the pool's `answerInPlace`; a statement that takes longer is waited for on the
/// pool's threads. A waiting caller holds one of Swift's cooperative threads (one per core): only `slots` callers wait at
/// once (half the cores; none on one core), and only while their pool is quiet (`quietPool`); the others' statements
/// run on the pool's threads, as all did before.
public enum AnswerInPlace {
    /// The most connections of a pool leased at once for its statements to be answered in place: one request's (a sync
    /// holds two: its page's and its decks'). Under load the cooperative threads have other requests' work to do, and
    /// statements wait for locks and for the cores: 50 learners syncing at once (`studysync-bench class`) made 10-20%
    /// fewer syncs a second when their statements were answered in place.
    static let quietPool = 2
    /// Long enough for the statements of a sync (a look-up, a page of a pull, a commit), short enough that a statement
    /// that runs longer holds a cooperative thread no longer than a request's own work would.
    public static let defaultLimit: Duration = .milliseconds(1)
    static let slots = ProcessInfo.processInfo.activeProcessorCount / 2
    private static let waiting = Atomic<Int>(0)

    /// A slot to wait in, when one is free.
    static func take() -> Bool {
        var current = waiting.load(ordering: .relaxed)
        while current < slots {
            let (exchanged, original) = waiting.compareExchange(expected: current, desired: current + 1, ordering: .acquiring)
            if exchanged { return true }
            current = original
        }
        return false
    }

    static func give() { waiting.subtract(1, ordering: .releasing) }
}

/// A count read and changed from any thread without waiting.
final class LeaseCount: Sendable {
    let count = Atomic<Int>(0)
}

/// `COPY <table> (<columns>) FROM STDIN<options>`, with the table and column names quoted as identifiers.
func copyStatement(into table: String, columns: [String], options: String) -> PostgresQuery {
    let columnList = columns.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: ", ")
    return PostgresQuery(unsafeSQL: "COPY \(quoteQualified(table)) (\(columnList)) FROM STDIN\(options)")
}

/// Quotes `schema.table` or `table` as identifiers.
func quoteQualified(_ name: String) -> String {
    name.split(separator: ".", omittingEmptySubsequences: false)
        .map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        .joined(separator: ".")
}
