import Foundation
import LibPQ
import Logging
import PostgresTestSupport
import Testing

@Suite struct QueryTests {
    @Test func valuesWithQuotesNullUnicodeAndBytesRoundTripAsParameters() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 2)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE t (s text, n bigint, d float8, b boolean, bytes bytea)")
            let tricky = "Robert'); DROP TABLE t;-- \"quoted\" \\ back\nslash 日本語 🧪"
            let bytes: [UInt8] = [0, 1, 2, 0x5C, 0x27, 0xFF, 0x0A, 0]
            let nothing: String? = nil
            try await pool.query("INSERT INTO t VALUES (\(tricky), \(Int64.min), \(0.1 + 0.2), \(true), \(bytes))")
            try await pool.query("INSERT INTO t VALUES (\(nothing), \(Int64?.none), \(Double?.none), \(Bool?.none), \([UInt8]()))")
            let rows = try await pool.query("SELECT s, n, d, b, bytes FROM t ORDER BY n NULLS LAST")
            #expect(rows.count == 2)
            #expect(try rows[0].decode(String.self, at: 0) == tricky)
            #expect(try rows[0].decode(Int64.self, at: 1) == Int64.min)
            #expect(try rows[0].decode(Double.self, at: 2) == 0.1 + 0.2)
            #expect(try rows[0].decode(Bool.self, column: "b"))
            #expect(try rows[0].decode([UInt8].self, column: "bytes") == bytes)
            #expect(try rows[1].decode(String?.self, at: 0) == nil)
            #expect(try rows[1].decode(Int64?.self, at: 1) == nil)
            #expect(try rows[1].decode([UInt8].self, at: 4) == [])
            #expect(try await pool.query("SELECT count(*) FROM t").scalar(Int.self) == 2)
        }
    }

    /// A result read in place gives what the copied rows give, and refuses NULLs, non-numbers, out-of-range integers
    /// and cells outside the result with a decoding error instead of reading past libpq's result.
    @Test func aResultReadInPlaceDecodesAsTheCopiedRowsDo() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let tricky = "quote ' and 日本語 🧪"
            let query: PostgresQuery = """
                SELECT * FROM (VALUES (\(Int64.min)::bigint, \(tricky)::text, true, NULL::text), (\(Int64.max)::bigint, '', false, '12x'), (0, 'z', true, '-0'))
                AS v (n, s, b, t)
                """
            let copied = try await pool.query(query)
            let read = try await pool.query(query) { result throws(PostgresError) in
                try (0..<result.count).map { row throws(PostgresError) in
                    (
                        try result.int64(row, 0), try result.decode(String.self, row, 1), try result.decode(Bool.self, row, 2),
                        try result.isNull(row, 3), try result.withBytes(row, 1) { Array($0) }
                    )
                }
            }
            #expect(read.count == copied.count)
            for (row, values) in zip(copied, read) {
                #expect(try row.decode(Int64.self, at: 0) == values.0)
                #expect(try row.decode(String.self, at: 1) == values.1)
                #expect(try row.decode(Bool.self, at: 2) == values.2)
                #expect(try row.decode(String?.self, at: 3) == nil ? values.3 : !values.3)
                #expect(Array(try row.decode(String.self, at: 1).utf8) == values.4)
            }
            let refusals = try await pool.query(query) { result throws(PostgresError) in
                func kind(_ body: () throws(PostgresError) -> Void) -> PostgresError.Kind? {
                    do {
                        try body()
                        return nil
                    } catch { return error.kind }
                }
                return [
                    kind { () throws(PostgresError) in _ = try result.int64(0, 3) },  // NULL
                    kind { () throws(PostgresError) in _ = try result.int64(1, 3) },  // 12x
                    kind { () throws(PostgresError) in _ = try result.int64(0, 1) },  // text
                    kind { () throws(PostgresError) in _ = try result.int64(3, 0) },  // no such row
                    kind { () throws(PostgresError) in _ = try result.isNull(0, 4) },  // no such column
                    kind { () throws(PostgresError) in _ = try result.decode(Int.self, -1, 0) },
                ]
            }
            #expect(refusals == Array(repeating: .decoding, count: 6))
            #expect(try await pool.query("SELECT '-0'::text") { result throws(PostgresError) in try result.int64(0, 0) } == 0)
            let past = try await pool.query("SELECT '9223372036854775808'::text, '-9223372036854775809'::text, '-'::text") {
                result throws(PostgresError) in
                (0..<3).map { column in (try? result.int64(0, column)) == nil }
            }
            #expect(past == [true, true, true])
        }
    }

    /// A statement is prepared once per connection and then only executed, with each call's own values; one that the
    /// server refuses to prepare throws its error, is not remembered, and leaves the connection usable.
    @Test func aStatementIsPreparedOnceAndRunWithEachCallsValues() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await pool.withConnection { connection in
                for n in [1, 41, -7] { #expect(try await connection.query("SELECT \(n)::int + 1").scalar(Int.self) == n + 1) }
                let copies = try await connection.query("SELECT count(*) FROM pg_prepared_statements WHERE statement = 'SELECT $1::int + 1'")
                #expect(try copies.scalar(Int.self) == 1)
                await #expect(throws: PostgresError.self) { try await connection.query("SELEC \(1)::int") }
                await #expect(throws: PostgresError.self) { try await connection.query("SELEC \(1)::int") }
                #expect(try await connection.query("SELECT \(2)::int * 2").scalar(Int.self) == 4)
            }
        }
    }

    @Test func anInterpolatedValueIsNeverSQL() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let attack = "1; SELECT pg_sleep(10)"
            let query: PostgresQuery = "SELECT \(attack)::text AS v"
            #expect(query.sql == "SELECT $1::text AS v")
            #expect(try await pool.query(query).scalar(String.self) == attack)
            let name = "we\"ird"
            let quoted: PostgresQuery = "SELECT 1 AS \(identifier: name)"
            #expect(quoted.sql == "SELECT 1 AS \"we\"\"ird\"")
            #expect(try await pool.query(quoted)[0].decode(Int.self, column: name) == 1)
        }
    }

    @Test func arraysTravelAsOneParameter() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let values = PostgresArray(["a\"b", "c\\d", "e,f", nil, "{}", "NULL", "é \\\""])
            let rows = try await pool.query("SELECT x FROM unnest(\(values)::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i")
            #expect(try rows.column(String?.self) == ["a\"b", "c\\d", "e,f", nil, "{}", "NULL", "é \\\""])
        }
    }

    @Test func decodingTheWrongTypeSaysWhatWentWrong() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let rows = try await pool.query("SELECT 'abc'::text AS t, NULL::int AS n")
            #expect(throws: PostgresError.self) { try rows[0].decode(Int.self, at: 0) }
            #expect(throws: PostgresError.self) { try rows[0].decode(Int.self, column: "n") }
            #expect(throws: PostgresError.self) { try rows[0].decode(Int.self, column: "missing") }
        }
    }

    @Test func sessionSettingsArePinned() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            let row = try await pool.query(
                "SELECT current_setting('TimeZone'), current_setting('DateStyle'), current_setting('application_name'), current_setting('statement_timeout')"
            )[0]
            #expect(try row.decode(String.self, at: 0) == "UTC")
            #expect(try row.decode(String.self, at: 1) == "ISO, YMD")
            #expect(try row.decode(String.self, at: 2) == "studysync")
            #expect(try row.decode(String.self, at: 3) == "30s")
        }
    }

    /// Binary COPY: each kind of field at its edges, read back as PostgreSQL stored it; a malformed uuid is refused by
    /// the writer; rows enough to need several chunks.
    @Test func binaryCopyStoresEachKindOfFieldAsWritten() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE b (n bigint, i integer, f boolean, t text, u uuid, a smallint[], maybe text)")
            var rows = PostgresBinaryRows(fields: 7)
            func add(_ n: Int64, _ i: Int32, _ f: Bool, _ t: String, _ u: String, _ a: [Int], _ maybe: String?) {
                rows.append { row in
                    row.int64(n)
                    row.int32(i)
                    row.bool(f)
                    row.text(t)
                    let written = row.uuid(u)
                    #expect(written)
                    row.int16Array(a)
                    if let maybe { row.text(maybe) } else { row.null() }
                }
            }
            add(.min, .min, true, "tab\there\nnew line \\N back\\slash 日本語 🧪", "0190A3C4-1111-7000-8000-00000000ABCD", [0, 9, -1, 32767], nil)
            add(.max, .max, false, "", "00000000-0000-0000-0000-000000000000", [], "x")
            for n in 0..<20_000 { add(Int64(n), Int32(n), n % 2 == 0, "row \(n)", "0190a3c4-1111-7000-8000-000000000001", [n % 4], nil) }
            let copied = try await pool.withConnection {
                try await $0.copyBinary(into: "b", columns: ["n", "i", "f", "t", "u", "a", "maybe"], rows: rows)
            }
            #expect(copied == 20_002)
            let first = try await pool.query("SELECT n, i, f, t, u::text, a::text, maybe FROM b WHERE n = \(Int64.min)")[0]
            #expect(try first.decode(Int32.self, at: 1) == .min && first.decode(Bool.self, at: 2))
            #expect(try first.decode(String.self, at: 3) == "tab\there\nnew line \\N back\\slash 日本語 🧪")
            #expect(try first.decode(String.self, at: 4) == "0190a3c4-1111-7000-8000-00000000abcd")
            #expect(try first.decode(String.self, at: 5) == "{0,9,-1,32767}")
            #expect(try first.decode(String?.self, at: 6) == nil)
            let second = try await pool.query("SELECT i, f, t, a::text, maybe FROM b WHERE n = \(Int64.max)")[0]
            #expect(try second.decode(Int32.self, at: 0) == .max && !second.decode(Bool.self, at: 1) && second.decode(String.self, at: 2) == "")
            #expect(try second.decode(String.self, at: 3) == "{}" && second.decode(String.self, at: 4) == "x")
            #expect(try await pool.query("SELECT sum(i) FROM b WHERE n >= 0 AND n < \(Int64.max)").scalar(Int64.self) == 199_990_000)
            // Rows written one at a time through one scratch row as the COPY sends them: a long row, then shorter ones,
            // each exactly as written; then more rows than one chunk of the COPY holds.
            try await pool.query("CREATE TABLE r (t text, maybe text, n bigint, u uuid)")
            let texts = [String(repeating: "long ", count: 200), "short", ""]
            let columns = ["t", "maybe", "n", "u"]
            let written = try await pool.withConnection {
                try await $0.copyBinary(into: "r", columns: columns, count: texts.count) { i, row in
                    row.text(texts[i])
                    if i == 1 { row.text("x") } else { row.null() }
                    row.int64(Int64(10 + i))
                    row.uuid("0190a3c4-1111-7000-8000-00000000000\(i)")
                }
            }
            #expect(written == 3)
            let back = try await pool.query("SELECT t, maybe, n, u::text FROM r ORDER BY n")
            #expect(try back.map { try $0.decode(String.self, at: 0) } == texts)
            #expect(try back.map { try $0.decode(String?.self, at: 1) } == [nil, "x", nil])
            #expect(try back.map { try $0.decode(Int64.self, at: 2) } == [10, 11, 12])
            #expect(try back.map { try $0.decode(String.self, at: 3) } == (0..<3).map { "0190a3c4-1111-7000-8000-00000000000\($0)" })
            try await pool.query("TRUNCATE r")
            let many = try await pool.withConnection {
                try await $0.copyBinary(into: "r", columns: columns, count: 5_000) { i, row in
                    row.text(String(repeating: "x", count: i % 40))
                    row.null()
                    row.int64(Int64(i))
                    row.uuid(String(format: "0190a3c4-1111-7000-8000-%012d", i))
                }
            }
            #expect(many == 5_000)
            #expect(try await pool.query("SELECT sum(n) FROM r").scalar(Int.self) == 12_497_500)
            #expect(try await pool.query("SELECT count(DISTINCT u) FROM r").scalar(Int.self) == 5_000)
            #expect(try await pool.query("SELECT sum(length(t)) FROM r").scalar(Int.self) == (0..<5_000).reduce(0) { $0 + $1 % 40 })
            var bad = PostgresBinaryRow(fields: 1)
            for text in [
                "0190a3c4-1111-7000-8000-00000000abc", "0190a3c4-1111-7000-8000-00000000abcg", "0190a3c411117000800000000000abcd", "",
                "0190a3c4-11g1-7000-8000-00000000abcd", "0190a3c4-1111-7000-8000x00000000abcd", "0190a3c4-1111-7000-8000-00000000abcdef",
            ] {
                let written = bad.uuid(text)
                #expect(!written, "\(text)")
            }
            #expect(bad.encoded == PostgresBinaryRow(fields: 1).encoded)
        }
    }

    @Test func copyBulkLoadsRowsWithAwkwardValues() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await pool.query("CREATE TABLE c (id int, note text)")
            var rows: [[String?]] = (0..<50_000).map { [String($0), "row \($0)"] }
            rows.append(["-1", "tab\there\nnew line \\N back\\slash"])
            rows.append(["-2", nil])
            let copied = try await pool.withConnection { try await $0.copy(into: "c", columns: ["id", "note"], rows: rows) }
            #expect(copied == 50_002)
            #expect(try await pool.query("SELECT note FROM c WHERE id = -1").scalar(String.self) == "tab\there\nnew line \\N back\\slash")
            #expect(try await pool.query("SELECT note FROM c WHERE id = -2").scalar(String?.self) == .some(nil))
        }
    }

    @Test func noticesGoToTheLogger() async throws {
        let sink = CapturedLogs()
        var logger = Logger(label: "test") { _ in sink }
        logger.logLevel = .debug
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1, logger: logger)
        try await withPool(pool) { pool async throws in
            try await pool.query("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$")
            #expect(sink.messages.contains { $0.contains("hello from plpgsql") })
        }
    }
}

/// A log handler that keeps what it is given, for assertions.
final class CapturedLogs: LogHandler, @unchecked Sendable {
    // Guarded by `lock`; written from the pool's threads.
    private var lines: [String] = []
    private let lock = NSLock()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lock.withLock { lines.append("\(event.message) \(event.metadata ?? [:])") }
    }
    var messages: [String] { lock.withLock { lines } }
}
