import CLibPQ
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One libpq connection, used through blocking calls.
///
/// `@unchecked Sendable` is safe because the pool leases a connection to one caller at a time, and that caller makes its
/// calls one after another (each awaited, on the thread pool or in place), so no two threads touch `handle` at once.
/// The one call that may come from another thread, `cancel()`, uses libpq's `PGcancel` object, which libpq documents
/// as thread-safe.
final class PQConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    private let cancelHandle: OpaquePointer?
    private let notices: Unmanaged<NoticeSink>
    private let cancelled = LockedFlag()
    /// True once a failure showed the socket is gone; the pool then throws the connection away.
    private(set) var broken = false

    /// Connects, blocking for at most the configured connect timeout. `PQfinish` runs even after a failed attempt.
    init(configuration: PostgresConfiguration, logger: Logger) throws(PostgresError) {
        let pairs = configuration.keywordValues
        let raw: OpaquePointer? = pairs.map(\.0).withCStringArray { keywords in
            pairs.map(\.1).withCStringArray { values in PQconnectdbParams(keywords, values, 1) }
        }
        guard let raw else { throw PostgresError(kind: .connectFailed, message: "libpq could not allocate a connection.") }
        guard PQstatus(raw) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(raw)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(raw)
            throw PostgresError(kind: .connectFailed, message: "Cannot connect to PostgreSQL: \(message)")
        }
        handle = raw
        cancelHandle = PQgetCancel(raw)
        notices = Unmanaged.passRetained(NoticeSink(logger: logger))
        PQsetNoticeReceiver(raw, noticeReceiver, notices.toOpaque())
    }

    deinit {
        PQfinish(handle)
        if let cancelHandle { PQfreeCancel(cancelHandle) }
        notices.release()
    }

    var serverProcessID: Int32 { PQbackendPID(handle) }

    /// Whether the connection sits inside a transaction block (open, or failed and awaiting ROLLBACK).
    var inTransaction: Bool { PQtransactionStatus(handle) != PQTRANS_IDLE }

    var isUsable: Bool { !broken && PQstatus(handle) == CONNECTION_OK }

    /// Reads whatever the server sent while the connection sat idle, without blocking: a server that shut down or a
    /// terminated backend has sent its last message and closed the socket, which this notices.
    func isAlive() -> Bool {
        guard isUsable else { return false }
        // The last message and the end of the stream may arrive separately; read until nothing more is waiting.
        var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        for _ in 0..<4 {
            guard poll(&socket, 1, 0) > 0 else { return true }
            if PQconsumeInput(handle) != 1 || PQstatus(handle) != CONNECTION_OK {
                broken = true
                return false
            }
        }
        return PQstatus(handle) == CONNECTION_OK
    }

    /// Asks the server to cancel the statement running on this connection. Safe from any thread.
    func cancel() {
        cancelled.set(true)
        guard let cancelHandle else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancelHandle, &buffer, Int32(buffer.count))
    }

    func resetCancellation() { cancelled.set(false) }

    /// Runs one statement with its bound parameters and copies the result out of libpq.
    func execute(_ query: PostgresQuery) throws(PostgresError) -> PostgresRows {
        try send(query)
        return try rows()
    }

    /// Runs one statement with its bound parameters and lets `read` read the result in place, before it is freed.
    func execute<T>(_ query: PostgresQuery, read: (PostgresResultView) throws(PostgresError) -> T) throws(PostgresError) -> T {
        try send(query)
        return try result(read: read)
    }

    /// The rows of the statement sent last, copied out of libpq (waiting for them if need be).
    func rows() throws(PostgresError) -> PostgresRows { try consume(try lastResult()) }

    /// Lets `read` read the result of the statement sent last in place, before it is freed (waiting for it if need be).
    func result<T>(read: (PostgresResultView) throws(PostgresError) -> T) throws(PostgresError) -> T {
        let result = try succeeded(try lastResult())
        defer { PQclear(result) }
        return try read(PostgresResultView(result))
    }

    /// The most bytes of values a statement may carry to be sent by `sendAtOnce`: far less than a socket's send buffer
    /// (200 KiB and more on Linux), so that libpq hands them to the kernel without waiting for the server to read.
    static let atOnceBindBytes = 16_384

    /// Sends `query` when that cannot block: it is prepared on this connection already (a first use prepares it, a round
    /// trip of its own) and its values are small (`atOnceBindBytes`). False: nothing was sent.
    func sendAtOnce(_ query: PostgresQuery) throws(PostgresError) -> Bool {
        guard prepared[query.sql] != nil else { return false }
        var bytes = 0
        for bind in query.binds {
            switch bind {
            case .null: break
            case .text(let text): bytes += text.utf8.count
            case .binary(let value): bytes += value.count
            }
        }
        guard bytes <= Self.atOnceBindBytes else { return false }
        try send(query)
        return true
    }

    /// Waits on the calling thread, for at most `limit`, for the answer to the statement sent last; true when all of it
    /// has arrived (reading it then blocks no more). Cancelling meanwhile (`cancel()`, from another thread) makes the
    /// server answer at once, with the error.
    func awaitAnswer(within limit: Duration) throws(PostgresError) -> Bool {
        let deadline = ContinuousClock.now + limit
        var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        while PQisBusy(handle) == 1 {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            // poll counts whole milliseconds: the wait may end up to one later than the limit.
            let milliseconds = left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
            _ = poll(&socket, 1, Int32(clamping: milliseconds))
            if PQconsumeInput(handle) != 1 { throw connectionError() }
        }
        return true
    }

    /// Sends one statement with its bound parameters, prepared on this connection the first time its text is seen.
    func send(_ query: PostgresQuery) throws(PostgresError) {
        try checkNotCancelled()
        let binds = query.binds
        var lengths = [Int32](repeating: 0, count: binds.count)
        var formats = [Int32](repeating: 0, count: binds.count)
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        buffers.reserveCapacity(binds.count)
        defer { buffers.forEach { free($0) } }
        for (i, bind) in binds.enumerated() {
            switch bind {
            case .null:
                buffers.append(nil)
            case .text(let text):
                guard !text.utf8.contains(0) else {
                    throw PostgresError(
                        kind: .invalidValue, message: "Parameter $\(i + 1) holds a NUL character, which a PostgreSQL text value cannot.")
                }
                buffers.append(strdup(text))
            case .binary(let bytes):
                let buffer = malloc(max(bytes.count, 1))!.assumingMemoryBound(to: CChar.self)
                bytes.withUnsafeBytes { raw in if !bytes.isEmpty { memcpy(buffer, raw.baseAddress!, bytes.count) } }
                buffers.append(buffer)
                lengths[i] = Int32(bytes.count)
                formats[i] = 1
            }
        }
        let name = try preparedName(for: query.sql, parameters: Int32(binds.count))
        let sent = buffers.withUnsafeBufferPointer { values in
            values.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                if let name {
                    PQsendQueryPrepared(handle, name, Int32(binds.count), values.baseAddress, lengths, formats, 0)
                } else {
                    PQsendQueryParams(handle, query.sql, Int32(binds.count), nil, values.baseAddress, lengths, formats, 0)
                }
            }
        }
        guard sent == 1 else { throw connectionError() }
    }

    /// Statements this connection has prepared, by SQL text. The server parses and plans a prepared statement once, not
    /// on every call: for the short statements of a sync that was most of their time. Named statements outlive the
    /// transaction that made them, even one rolled back; they end with the connection.
    private var prepared: [String: String] = [:]
    /// A bound on what one connection keeps prepared, in case some caller makes SQL text that differs call by call:
    /// past it, statements run unprepared.
    static let maxPreparedStatements = 512

    /// The name `sql` is prepared under on this connection, preparing it on first use; nil once the bound is reached.
    private func preparedName(for sql: String, parameters: Int32) throws(PostgresError) -> String? {
        if let name = prepared[sql] { return name }
        guard prepared.count < Self.maxPreparedStatements else { return nil }
        let name = "studysync_\(prepared.count + 1)"
        guard PQsendPrepare(handle, name, sql, parameters, nil) == 1 else { throw connectionError() }
        _ = try consume(try lastResult())
        prepared[sql] = name
        return name
    }

    /// Waits for the statement sent last and returns its result, draining to NULL so the connection is ready for the
    /// next (one statement gives one result).
    private func lastResult() throws(PostgresError) -> OpaquePointer? {
        try awaitResult()
        var result: OpaquePointer? = nil
        while let next = PQgetResult(handle) {
            if let earlier = result { PQclear(earlier) }
            result = next
        }
        return result
    }

    /// Waits for the server's answer without blocking in libpq, so a cancellation that arrives at any moment while the
    /// statement runs — even before it reached the server — is sent (again) and honoured.
    private func awaitResult() throws(PostgresError) {
        var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        var cancelSent = false
        while PQisBusy(handle) == 1 {
            if cancelled.value && !cancelSent, let cancelHandle {
                var buffer = [CChar](repeating: 0, count: 256)
                _ = PQcancel(cancelHandle, &buffer, Int32(buffer.count))
                cancelSent = true
            }
            _ = poll(&socket, 1, 100)
            if PQconsumeInput(handle) != 1 { throw connectionError() }
        }
    }

    /// Runs SQL text that may hold several statements and no parameters (migration files).
    func executeScript(_ sql: String) throws(PostgresError) {
        try checkNotCancelled()
        _ = try consume(PQexec(handle, sql))
    }

    /// `COPY ... FROM STDIN` in text format: each row's values are escaped here, NULL is `\N`. Returns the rows copied.
    func copy(_ statement: PostgresQuery, rows: some Sequence<[String?]>) throws(PostgresError) -> Int {
        try copyIn(statement) { chunk, flush in
            for row in rows {
                for (i, value) in row.enumerated() {
                    if i > 0 { chunk.append(0x09) }
                    guard let value else {
                        chunk.append(contentsOf: [0x5C, 0x4E])  // \N
                        continue
                    }
                    // Most values need no escape: then they are appended in one step.
                    let plain = value.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
                        guard !utf8.contains(where: { $0 == 0x5C || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) else { return false }
                        chunk.append(contentsOf: utf8)
                        return true
                    }
                    if plain == true { continue }
                    for byte in value.utf8 {
                        switch byte {
                        case 0x5C: chunk.append(contentsOf: [0x5C, 0x5C])
                        case 0x09: chunk.append(contentsOf: [0x5C, 0x74])
                        case 0x0A: chunk.append(contentsOf: [0x5C, 0x6E])
                        case 0x0D: chunk.append(contentsOf: [0x5C, 0x72])
                        default: chunk.append(byte)
                        }
                    }
                }
                chunk.append(0x0A)
                if chunk.count >= 1 << 16, !flush(&chunk) { return }
            }
        }
    }

    /// `COPY ... FROM STDIN (FORMAT binary)`: the signature and header, the rows as written, the trailer.
    func copyBinary(_ statement: PostgresQuery, rows: PostgresBinaryRows) throws(PostgresError) -> Int {
        try copyIn(statement) { chunk, flush in
            chunk.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])  // PGCOPY\n\377\r\n\0
            chunk.append(contentsOf: [UInt8](repeating: 0, count: 8))  // no flags, no header extension
            var sent = 0
            while sent < rows.encoded.count {
                let end = min(sent + (1 << 16), rows.encoded.count)
                chunk.append(contentsOf: rows.encoded[sent..<end])
                sent = end
                if !flush(&chunk) { return }
            }
            chunk.append(contentsOf: [0xFF, 0xFF])  // field count -1: the end
        }
    }

    /// `COPY ... FROM STDIN (FORMAT binary)` of `count` rows that `write` writes one at a time (row n into an empty
    /// row), each sent as its chunk fills: the rows are never all in memory at once.
    func copyBinary(_ statement: PostgresQuery, fields: Int16, count: Int, write: (Int, inout PostgresBinaryRow) -> Void) throws(PostgresError) -> Int
    {
        try copyIn(statement) { chunk, flush in
            chunk.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])  // PGCOPY\n\377\r\n\0
            chunk.append(contentsOf: [UInt8](repeating: 0, count: 8))  // no flags, no header extension
            var row = PostgresBinaryRow(fields: fields)
            for n in 0..<count {
                row.reset()
                write(n, &row)
                row.withBytes { chunk.append(contentsOf: $0) }
                if chunk.count >= 1 << 16, !flush(&chunk) { return }
            }
            chunk.append(contentsOf: [0xFF, 0xFF])  // field count -1: the end
        }
    }

    /// Starts `statement` (a COPY FROM STDIN), lets `produce` fill the data in chunks (sending each when it calls
    /// `flush`, which returns false once sending failed), ends the COPY and returns the rows copied.
    private func copyIn(
        _ statement: PostgresQuery, _ produce: (inout [UInt8], _ flush: (inout [UInt8]) -> Bool) -> Void
    ) throws(PostgresError) -> Int {
        try checkNotCancelled()
        let start = PQexecParams(handle, statement.sql, 0, nil, nil, nil, nil, 0)
        guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try consume(start)
            throw PostgresError(kind: .protocolError, message: "The statement did not start a COPY FROM STDIN.")
        }
        PQclear(start)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(1 << 16)
        var failure: PostgresError?
        func flush(_ chunk: inout [UInt8]) -> Bool {
            guard failure == nil else { return false }
            guard !chunk.isEmpty else { return true }
            let sent = chunk.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
            }
            if sent != 1 { failure = connectionError() }
            chunk.removeAll(keepingCapacity: true)
            return failure == nil
        }
        produce(&chunk, flush)
        _ = flush(&chunk)
        if PQputCopyEnd(handle, failure == nil ? nil : "client failed to send rows") != 1 { failure = failure ?? connectionError() }
        // Drain every result to NULL; the first is the COPY's outcome.
        var outcome: Result<PostgresRows, PostgresError>?
        while let result = PQgetResult(handle) {
            let this = Result { () throws(PostgresError) in try consume(result) }
            if outcome == nil { outcome = this }
        }
        if let failure { throw failure }
        guard let outcome else { throw connectionError() }
        return try outcome.get().affectedRows
    }

    private func checkNotCancelled() throws(PostgresError) {
        if cancelled.value { throw PostgresError(kind: .queryCancelled, message: "The query was cancelled before it started.") }
    }

    /// Turns a result into rows or an error, and frees it.
    private func consume(_ result: OpaquePointer?) throws(PostgresError) -> PostgresRows {
        let result = try succeeded(result)
        defer { PQclear(result) }
        let columnCount = PQnfields(result)
        let names = ColumnNames((0..<columnCount).map { String(cString: PQfname(result, $0)) })
        let rows = (0..<PQntuples(result)).map { row in
            PostgresRow(
                columns: names,
                values: (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
        }
        let tag = String(cString: PQcmdTuples(result))
        return PostgresRows(rows: rows, affectedRows: Int(tag) ?? rows.count)
    }

    /// The result when its statement succeeded; otherwise the error it holds, thrown after the result is freed.
    private func succeeded(_ result: OpaquePointer?) throws(PostgresError) -> OpaquePointer {
        guard let result else { throw connectionError() }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return result
        default:
            defer { PQclear(result) }
            throw failure(of: result)
        }
    }

    /// The error a failed result holds.
    private func failure(of result: OpaquePointer) -> PostgresError {
        switch PQresultStatus(result) {
        case PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR:
            func field(_ code: Int32) -> String? { PQresultErrorField(result, code).map { String(cString: $0) } }
            let state = field(Diagnostic.sqlstate)
            var kind = state.map(PostgresError.kind(forSQLState:)) ?? .connectionLost
            if PQstatus(handle) != CONNECTION_OK {
                kind = .connectionLost
            }
            if kind == .connectionLost { broken = true }
            let message = field(Diagnostic.message) ?? String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
            return PostgresError(kind: kind, sqlState: state, message: message, detail: field(Diagnostic.detail), hint: field(Diagnostic.hint))
        default:
            return PostgresError(kind: .protocolError, message: "Unexpected libpq result status \(PQresultStatus(result).rawValue).")
        }
    }

    private func connectionError() -> PostgresError {
        broken = true
        let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresError(kind: .connectionLost, message: "The connection to PostgreSQL was lost: \(message.isEmpty ? "no reply" : message)")
    }
}

/// Receives the server's NOTICE and WARNING messages, so they reach the logger instead of stderr.
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private func noticeReceiver(_ context: UnsafeMutableRawPointer?, _ result: OpaquePointer?) {
    guard let context, let result else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
    let message = PQresultErrorField(result, Diagnostic.message).map { String(cString: $0) } ?? ""
    let severity = PQresultErrorField(result, Diagnostic.severityNonlocalized).map { String(cString: $0) } ?? "NOTICE"
    let state = PQresultErrorField(result, Diagnostic.sqlstate).map { String(cString: $0) } ?? ""
    sink.logger.debug("postgres notice", metadata: ["pg.severity": "\(severity)", "pg.sqlstate": "\(state)", "pg.message": "\(message)"])
}

/// A Bool read and written from several threads.
final class LockedFlag: @unchecked Sendable {
    // Guarded by `lock`.
    private var flag = false
    private let lock = NSLock()
    var value: Bool { lock.withLock { flag } }
    func set(_ value: Bool) { lock.withLock { flag = value } }
}

/// libpq's `PG_DIAG_*` field codes, which are C character literals that Swift does not import.
enum Diagnostic {
    static let sqlstate = Int32(UInt8(ascii: "C"))
    static let message = Int32(UInt8(ascii: "M"))
    static let detail = Int32(UInt8(ascii: "D"))
    static let hint = Int32(UInt8(ascii: "H"))
    static let severityNonlocalized = Int32(UInt8(ascii: "V"))
}

extension Array where Element == String {
    func withCStringArray<T>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
        let copies = map { UnsafePointer(strdup($0)) } + [nil]
        defer { copies.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        return copies.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
