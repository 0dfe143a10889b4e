import NIOPosix

/// A leased connection, handed to the closures of `PostgresPool.withConnection` and `withTransaction`. It must not escape
/// the closure: once the closure returns the pool gives the connection to someone else.
public struct PostgresConnection: Sendable {
    let raw: PQConnection
    let threads: NIOThreadPool

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
        try await run { try $0.execute(query) }
    }

    /// Runs one statement and lets `read` read its result in place (`PostgresResultView`), on the connection's thread,
    /// before libpq frees it: for large results, which `query(_:)` would first copy value by value into strings.
    public func query<T: Sendable>(_ query: PostgresQuery, read: @escaping @Sendable (PostgresResultView) throws(PostgresError) -> T) async throws
        -> T
    {
        try await run { connection throws(PostgresError) in try connection.execute(query, read: read) }
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

    private func run<T: Sendable>(_ work: @escaping @Sendable (PQConnection) throws -> T) async throws -> T {
        let raw = self.raw
        try Task.checkCancellation()
        do {
            return try await withTaskCancellationHandler {
                try await threads.runIfActive { try work(raw) }
            } onCancel: {
                raw.cancel()
            }
        } catch let error as PostgresError where error.kind == .queryCancelled && Task.isCancelled {
            throw CancellationError()
        }
    }
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
