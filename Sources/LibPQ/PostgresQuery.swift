/// A value as libpq receives it: NULL, text, or binary bytes.
public enum PostgresBind: Sendable, Hashable {
    case null
    case text(String)
    case binary([UInt8])
}

/// A Swift value that can be sent as a bound parameter.
public protocol PostgresEncodable: Sendable {
    var postgresBind: PostgresBind { get }
}

/// A SQL statement whose every interpolated value becomes a `$n` parameter, so values can never change the SQL.
///
/// ```swift
/// let q: PostgresQuery = "SELECT id FROM users WHERE username = \(name)"
/// ```
/// SQL text that is not a literal needs `init(unsafeSQL:)` or `\(identifier:)`, which quotes a name.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation {
    public private(set) var sql: String
    public private(set) var binds: [PostgresBind]

    public init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    /// SQL text taken as it is. Only for text the program owns (migration files, generated statements); never for input.
    public init(unsafeSQL sql: String, binds: [PostgresBind] = []) {
        self.sql = sql
        self.binds = binds
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PostgresBind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresBind)
            sql += "$\(binds.count)"
        }

        public mutating func appendInterpolation(_ value: (some PostgresEncodable)?) {
            binds.append(value?.postgresBind ?? .null)
            sql += "$\(binds.count)"
        }

        /// SQL text the program owns (a column list kept in a constant), pasted as it is. Never pass input here.
        public mutating func appendInterpolation(unsafeRaw sql: String) { self.sql += sql }

        /// A schema, table or column name, double-quoted so that no name can break out of the identifier.
        public mutating func appendInterpolation(identifier: String) {
            sql += "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }
}

extension String: PostgresEncodable { public var postgresBind: PostgresBind { .text(self) } }
extension Substring: PostgresEncodable { public var postgresBind: PostgresBind { .text(String(self)) } }
extension Int: PostgresEncodable { public var postgresBind: PostgresBind { .text(String(self)) } }
extension Int64: PostgresEncodable { public var postgresBind: PostgresBind { .text(String(self)) } }
extension Int32: PostgresEncodable { public var postgresBind: PostgresBind { .text(String(self)) } }
extension Int16: PostgresEncodable { public var postgresBind: PostgresBind { .text(String(self)) } }
extension Bool: PostgresEncodable { public var postgresBind: PostgresBind { .text(self ? "t" : "f") } }
extension Double: PostgresEncodable {
    /// `description` is the shortest text that reads back to the same double; PostgreSQL spells infinities its own way.
    public var postgresBind: PostgresBind {
        if isNaN { return .text("NaN") }
        if isInfinite { return .text(self > 0 ? "Infinity" : "-Infinity") }
        return .text(description)
    }
}
/// Bytes travel in binary format, so `bytea` needs no escaping.
extension Array: PostgresEncodable where Element == UInt8 { public var postgresBind: PostgresBind { .binary(self) } }

/// A PostgreSQL array literal (`{"a","b"}`) sent as one bound text parameter; cast it in SQL (`$1::uuid[]`).
public struct PostgresArray: PostgresEncodable, Hashable {
    public let elements: [String?]

    public init(_ elements: [String?]) { self.elements = elements }
    public init<S: Sequence>(_ elements: S) where S.Element: CustomStringConvertible { self.elements = elements.map { $0.description } }

    public var postgresBind: PostgresBind {
        // Built byte by byte: arrays of thousands of ids are bound on every push.
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            guard let element else {
                bytes.append(contentsOf: "NULL".utf8)
                continue
            }
            bytes.append(UInt8(ascii: "\""))
            for byte in element.utf8 {
                if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return .text(String(decoding: bytes, as: UTF8.self))
    }
}
