/// A Swift type a text-format column decodes into.
public protocol PostgresDecodable: Sendable {
    /// `text` is the column's text form, nil for SQL NULL.
    static func decode(postgresText text: String?) throws -> Self
}

extension PostgresDecodable {
    static func nonNull(_ text: String?) throws -> String {
        guard let text else {
            throw PostgresError(kind: .decoding, message: "A NULL column cannot be decoded as \(Self.self); decode it as \(Self.self)?.")
        }
        return text
    }

    static func failure(_ text: String) -> PostgresError {
        PostgresError(kind: .decoding, message: "The column value '\(text.prefix(40))' is not a valid \(Self.self).")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(postgresText text: String?) throws -> Self { try text.map { try Wrapped.decode(postgresText: $0) } }
}

extension String: PostgresDecodable {
    public static func decode(postgresText text: String?) throws -> String { try nonNull(text) }
}

extension Bool: PostgresDecodable {
    public static func decode(postgresText text: String?) throws -> Bool {
        switch try nonNull(text) {
        case "t": true
        case "f": false
        case let other: throw failure(other)
        }
    }
}

extension FixedWidthInteger where Self: PostgresDecodable {
    static func decodeInteger(_ text: String?) throws -> Self {
        let value = try nonNull(text)
        guard let parsed = Self(value) else { throw failure(value) }
        return parsed
    }
}

extension Int: PostgresDecodable { public static func decode(postgresText text: String?) throws -> Int { try decodeInteger(text) } }
extension Int64: PostgresDecodable { public static func decode(postgresText text: String?) throws -> Int64 { try decodeInteger(text) } }
extension Int32: PostgresDecodable { public static func decode(postgresText text: String?) throws -> Int32 { try decodeInteger(text) } }
extension Int16: PostgresDecodable { public static func decode(postgresText text: String?) throws -> Int16 { try decodeInteger(text) } }

extension Double: PostgresDecodable {
    public static func decode(postgresText text: String?) throws -> Double {
        let value = try nonNull(text)
        switch value {
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let parsed = Double(value) else { throw failure(value) }
            return parsed
        }
    }
}

/// `bytea` in its hex text form (`\x0aff…`), the server's default output.
extension Array: PostgresDecodable where Element == UInt8 {
    public static func decode(postgresText text: String?) throws -> [UInt8] {
        let value = try nonNull(text)
        guard value.hasPrefix("\\x"), value.utf8.count % 2 == 0 else { throw failure(value) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.utf8.count / 2 - 1)
        var high: UInt8?
        for c in value.utf8.dropFirst(2) {
            let nibble: UInt8
            switch c {
            case 48...57: nibble = c - 48
            case 97...102: nibble = c - 87
            case 65...70: nibble = c - 55
            default: throw failure(value)
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }
}

/// One row of a result, copied out of libpq so it outlives the C result.
public struct PostgresRow: Sendable {
    let columns: ColumnNames
    let values: [String?]

    /// The column at `index` (0-based) as `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at index: Int) throws -> T {
        guard values.indices.contains(index) else {
            throw PostgresError(kind: .decoding, message: "The row has \(values.count) columns; there is no column \(index).")
        }
        return try T.decode(postgresText: values[index])
    }

    /// The column named `name` as `T`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws -> T {
        guard let index = columns.index[name] else {
            throw PostgresError(kind: .decoding, message: "The result has no column named \(name); it has \(columns.names.joined(separator: ", ")).")
        }
        return try T.decode(postgresText: values[index])
    }

    public subscript(index: Int) -> String? { values[index] }

    /// How many columns the row has.
    public var count: Int { values.count }
}

final class ColumnNames: Sendable {
    let names: [String]
    let index: [String: Int]

    init(_ names: [String]) {
        self.names = names
        self.index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// The rows a statement returned, and how many rows it changed.
public struct PostgresRows: Sendable, RandomAccessCollection {
    public let rows: [PostgresRow]
    /// From the command tag: rows inserted, updated, deleted, copied or selected.
    public let affectedRows: Int

    public var startIndex: Int { rows.startIndex }
    public var endIndex: Int { rows.endIndex }
    public subscript(position: Int) -> PostgresRow { rows[position] }

    /// Decodes the only column of every row.
    public func column<T: PostgresDecodable>(_ type: T.Type = T.self) throws -> [T] { try rows.map { try $0.decode(T.self, at: 0) } }

    /// The first column of the first row, or nil when there is no row.
    public func scalar<T: PostgresDecodable>(_ type: T.Type = T.self) throws -> T? { try rows.first?.decode(T.self, at: 0) }
}
