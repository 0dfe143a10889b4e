import CSQLite
import Foundation
import StudyAPI
import StudyCore

/// An error from SQLite, with its result code and message. `description` is a sentence for the learner: SQLite's own
/// text ("SQLite error 13") says nothing about what to do.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String

    /// The primary result code (the extended code's low byte).
    var primary: Int32 { code & 0xff }

    /// The disk or the file system cannot take a write: full, read-only, or failing.
    var isStorageFailure: Bool { [SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_PERM].contains(primary) }

    public var description: String {
        switch primary {
        case SQLITE_FULL: "The disk that holds the study home is full: free some space and run the command again. Nothing was lost."
        case SQLITE_READONLY, SQLITE_PERM:
            "The study home cannot be written (read-only or not yours): check its permissions, or choose another with --home. Nothing was lost."
        case SQLITE_BUSY, SQLITE_LOCKED: "Another study command is using this study home: wait for it to finish and run the command again."
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            "The local store is damaged (\(message)): move it aside and restore your answers with 'study backup import FILE' from a backup, or sync them again."
        case SQLITE_IOERR, SQLITE_CANTOPEN:
            "The study home could not be read or written (\(message)): check the disk and its permissions, and run the command again. Nothing was lost."
        default: "The local store failed (\(message), SQLite code \(code)): run the command again; if it fails again, report it with this sentence."
        }
    }
}

/// A value bound to a `?` parameter or read from a column.
public enum SQLiteValue: Sendable, Hashable {
    case null, integer(Int64), real(Double), text(String)
}

/// A SQLite connection. The CLI is single-threaded and owns its one connection, so this type is deliberately not Sendable.
/// Every statement is prepared with bound parameters; no value is ever pasted into SQL text.
///
/// Not being Sendable is also what makes `SQLITE_OPEN_NOMUTEX` safe: a connection is used by one task at a time, so
/// SQLite's own locking around every call (a fifth of the CPU of storing a pulled page) is left out.
final class SQLiteDatabase {
    fileprivate let handle: OpaquePointer

    private static let configured: Void = { _ = studysync_sqlite_disable_memory_statistics() }()

    enum Access {
        case readWrite
        /// Reads only; SQLite may still create WAL's shared-memory file.
        case readOnly
        /// Reads the database file as it is, writing nothing at all (committed answers still in the WAL file are not
        /// seen): the last resort of a read command on a full disk.
        case immutable
    }

    init(path: String, access: Access = .readWrite) throws {
        _ = Self.configured
        var db: OpaquePointer?
        let uri =
            "file:"
            + path.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "?", with: "%3f").replacingOccurrences(of: "#", with: "%23")
        let rc =
            switch access {
            case .readWrite: sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
            case .readOnly: sqlite3_open_v2(uri + "?mode=ro", &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nil)
            case .immutable: sqlite3_open_v2(uri + "?immutable=1", &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nil)
            }
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_busy_timeout(db, 5_000)
    }

    /// Prepared statements by SQL text, reused: a sync applies thousands of rows with the same few statements.
    private var statements: [String: OpaquePointer] = [:]

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs SQL text with no parameters (schema and pragmas only).
    func execute(script: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, script, nil, nil, &error) != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(error)
            throw SQLiteError(code: sqlite3_errcode(handle), message: message)
        }
    }

    /// Runs one statement with bound parameters; returns the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int {
        try withStatement(sql, values) { statement in
            while try step(statement) {}
        }
        return Int(sqlite3_changes(handle))
    }

    /// Runs a query with bound parameters and maps each row.
    func query<T>(_ sql: String, _ values: [SQLiteValue] = [], row: (Row) throws -> T) throws -> [T] {
        try withStatement(sql, values) { statement in
            var rows: [T] = []
            while try step(statement) { rows.append(try row(Row(statement: statement))) }
            return rows
        }
    }

    /// Runs `body` in one transaction that is rolled back if it throws. `IMMEDIATE` takes the write lock up front, so two
    /// `study` processes on one home serialise instead of failing half-way.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute(script: "BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute(script: "COMMIT")
            return result
        } catch {
            try? execute(script: "ROLLBACK")
            throw error
        }
    }

    struct Row {
        fileprivate let statement: OpaquePointer

        func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
        func optionalInt(_ column: Int32) -> Int64? { isNull(column) ? nil : int(column) }
        func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
        func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : double(column) }
        /// Read with its length (no scan for the terminating zero): a page of attempts reads five per row.
        func text(_ column: Int32) -> String {
            guard let start = sqlite3_column_text(statement, column) else { return "" }
            return String(decoding: UnsafeBufferPointer(start: start, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self)
        }
        /// The text, shared through `strings` with an equal one read before.
        func text(_ column: Int32, sharing strings: inout SharedStrings) -> String {
            guard let start = sqlite3_column_text(statement, column) else { return "" }
            return strings.string(UnsafeBufferPointer(start: start, count: Int(sqlite3_column_bytes(statement, column))))
        }
        /// A JSON list of small integers, as the chosen-options column holds it ("[2]", "[0,3]"), read in place; nil when the
        /// text is something else.
        func smallIntList(_ column: Int32) -> [Int]? {
            guard let start = sqlite3_column_text(statement, column) else { return nil }
            let bytes = UnsafeBufferPointer(start: start, count: Int(sqlite3_column_bytes(statement, column)))
            guard bytes.count >= 2, bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]") else { return nil }
            var values: [Int] = []
            var current: Int?
            for byte in bytes.dropFirst().dropLast() {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let next = (current ?? 0) * 10 + Int(byte - UInt8(ascii: "0"))
                    guard next < 1_000_000 else { return nil }
                    current = next
                case UInt8(ascii: ","):
                    guard let value = current else { return nil }
                    values.append(value)
                    current = nil
                default: return nil
                }
            }
            if let current {
                if values.isEmpty, let shared = Attempt.oneOption(current) { return shared }
                values.append(current)
            } else if !values.isEmpty {
                return nil
            }
            return values
        }
        /// Whether the text is `string`, byte for byte, compared in place.
        func text(_ column: Int32, is string: String) -> Bool {
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let start = sqlite3_column_text(statement, column), count == string.utf8.count else { return false }
            return string.utf8.withContiguousStorageIfAvailable { memcmp(start, $0.baseAddress!, count) == 0 } ?? (text(column) == string)
        }
        func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }
        func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    }

    /// The prepared statement for `sql`, from the cache or prepared now.
    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var prepared: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &prepared, nil) == SQLITE_OK, let prepared else { throw lastError() }
        statements[sql] = prepared
        return prepared
    }

    private func withStatement<T>(_ sql: String, _ values: [SQLiteValue], _ body: (OpaquePointer) throws -> T) throws -> T {
        let statement = try prepared(sql)
        // Reset after use so the statement holds no lock and no stale binding when it is next taken from the cache.
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        var bind = Binder(statement: statement, database: self)
        for value in values {
            switch value {
            case .null: try bind.null()
            case .integer(let v): try bind.int(v)
            case .real(let v): try bind.double(v)
            case .text(let v): try bind.text(v)
            }
        }
        return try body(statement)
    }

    /// A statement a loop runs many times (one per row of a pulled page): its SQL is looked up once, and each run binds
    /// its values in place instead of through an array of them.
    func statement(_ sql: String) throws -> Statement { Statement(handle: try prepared(sql), database: self) }

    struct Statement {
        fileprivate let handle: OpaquePointer
        fileprivate let database: SQLiteDatabase

        /// Binds the parameters in order through `bind`, runs the statement to its end and resets it; the number of rows
        /// it changed.
        @discardableResult
        func run(_ bind: (inout Binder) throws -> Void) throws -> Int {
            defer {
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
            var binder = Binder(statement: handle, database: database)
            try bind(&binder)
            while try database.step(handle) {}
            return Int(sqlite3_changes(database.handle))
        }
    }

    /// Binds a statement's parameters one after another, from the first.
    struct Binder {
        fileprivate let statement: OpaquePointer
        fileprivate let database: SQLiteDatabase
        private var index: Int32 = 0

        fileprivate init(statement: OpaquePointer, database: SQLiteDatabase) {
            self.statement = statement
            self.database = database
        }

        mutating func null() throws { try check(sqlite3_bind_null(statement, next())) }
        mutating func int(_ value: Int64) throws { try check(sqlite3_bind_int64(statement, next(), value)) }
        mutating func bool(_ value: Bool) throws { try int(value ? 1 : 0) }
        mutating func double(_ value: Double) throws { try check(sqlite3_bind_double(statement, next(), value)) }
        /// Bound with its length, from the string's own bytes (no C string is made, no scan for a terminating zero).
        mutating func text(_ value: String) throws {
            let index = next()
            let rc =
                value.utf8.withContiguousStorageIfAvailable { bytes -> Int32 in
                    guard let length = Int32(exactly: bytes.count) else { return SQLITE_TOOBIG }
                    // A null pointer would bind NULL: the empty string is bound from a literal.
                    guard let start = bytes.baseAddress, length > 0 else {
                        return sqlite3_bind_text(statement, index, "", 0, SQLiteDatabase.transient)
                    }
                    return start.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                        sqlite3_bind_text(statement, index, $0, length, SQLiteDatabase.transient)
                    }
                } ?? sqlite3_bind_text(statement, index, value, -1, SQLiteDatabase.transient)
            try check(rc)
        }

        private mutating func next() -> Int32 {
            index += 1
            return index
        }
        private func check(_ rc: Int32) throws { if rc != SQLITE_OK { throw database.lastError() } }
    }

    fileprivate func step(_ statement: OpaquePointer) throws -> Bool {
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw lastError()
        }
    }

    fileprivate func lastError() -> SQLiteError {
        SQLiteError(code: sqlite3_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }

    /// SQLite copies the bytes before `bind` returns.
    fileprivate static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension SQLiteValue {
    init(_ v: String?) { self = v.map { .text($0) } ?? .null }
    init(_ v: Int64?) { self = v.map { .integer($0) } ?? .null }
    init(_ v: Int) { self = .integer(Int64(v)) }
    init(_ v: Bool) { self = .integer(v ? 1 : 0) }
    init(_ v: Double?) { self = v.map { .real($0) } ?? .null }
}
