import CLibPQ

/// A statement's result as libpq holds it, read in place inside `query(_:read:)`: nothing is copied out of it but what
/// the reader makes. For large results (a pulled page of ten thousand attempts) that saves copying every value into a
/// string of its own first, which `PostgresRows` does. It must not escape the closure: the result is freed after it.
public struct PostgresResultView {
    private let result: OpaquePointer
    /// The number of rows.
    public let count: Int
    /// The number of columns.
    public let columns: Int

    init(_ result: OpaquePointer) {
        self.result = result
        count = Int(PQntuples(result))
        columns = Int(PQnfields(result))
    }

    private func check(_ row: Int, _ column: Int) throws(PostgresError) {
        guard (0..<count).contains(row), (0..<columns).contains(column) else {
            throw PostgresError(
                kind: .decoding, message: "The result has \(count) rows of \(columns) columns; there is no row \(row), column \(column).")
        }
    }

    public func isNull(_ row: Int, _ column: Int) throws(PostgresError) -> Bool {
        try check(row, column)
        return PQgetisnull(result, Int32(row), Int32(column)) == 1
    }

    /// Calls `body` with the text form of the value (empty for NULL), valid only during the call.
    public func withBytes<T>(_ row: Int, _ column: Int, _ body: (UnsafeBufferPointer<UInt8>) throws(PostgresError) -> T) throws(PostgresError) -> T {
        try check(row, column)
        let length = Int(PQgetlength(result, Int32(row), Int32(column)))
        let start = UnsafeRawPointer(PQgetvalue(result, Int32(row), Int32(column))).map { $0.assumingMemoryBound(to: UInt8.self) }
        return try body(UnsafeBufferPointer(start: length > 0 ? start : nil, count: start == nil ? 0 : length))
    }

    /// The value as `T`, as `PostgresRow.decode` does.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, _ row: Int, _ column: Int) throws(PostgresError) -> T {
        let text: String? =
            try isNull(row, column) ? nil : try withBytes(row, column) { bytes throws(PostgresError) in String(decoding: bytes, as: UTF8.self) }
        do {
            return try T.decode(postgresText: text)
        } catch let error as PostgresError {
            throw error
        } catch {
            throw PostgresError(kind: .decoding, message: "\(error)")
        }
    }

    /// A bigint (or smaller integer) column, read from its digits without making a string.
    public func int64(_ row: Int, _ column: Int) throws(PostgresError) -> Int64 {
        if try isNull(row, column) {
            throw PostgresError(kind: .decoding, message: "A NULL column cannot be decoded as Int64; decode it as Int64?.")
        }
        return try withBytes(row, column) { bytes throws(PostgresError) in
            guard let value = Self.parseInteger(bytes) else {
                throw PostgresError(
                    kind: .decoding, message: "The column value '\(String(decoding: bytes.prefix(40), as: UTF8.self))' is not a valid Int64.")
            }
            return value
        }
    }

    /// ASCII digits with an optional minus sign, nil for anything else or a value outside Int64.
    static func parseInteger(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index = 1 }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            // Built as a negative number, which reaches Int64.min.
            let (next, overflow2) = times.subtractingReportingOverflow(Int64(digit))
            guard !overflow, !overflow2 else { return nil }
            value = next
            index += 1
        }
        if negative { return value }
        let (positive, overflow) = Int64(0).subtractingReportingOverflow(value)
        return overflow ? nil : positive
    }
}
