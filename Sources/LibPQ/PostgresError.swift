/// An error from PostgreSQL or from this wrapper. `description` is safe to show a user: it never includes parameter values.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// The classes of failure callers act on differently.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case server, uniqueViolation, serializationFailure, deadlock, connectionLost, connectFailed, queryCancelled, poolTimeout, poolClosed,
                decoding, protocolError, invalidValue
        }
        private let base: Base

        /// Any other error the server reported; look at `sqlState`.
        public static let server = Kind(base: .server)
        /// SQLSTATE 23505.
        public static let uniqueViolation = Kind(base: .uniqueViolation)
        /// SQLSTATE 40001: retry the transaction.
        public static let serializationFailure = Kind(base: .serializationFailure)
        /// SQLSTATE 40P01: retry the transaction.
        public static let deadlock = Kind(base: .deadlock)
        /// The connection broke (SQLSTATE class 08, an administrator's shutdown 57P01–57P03, or a dead socket).
        public static let connectionLost = Kind(base: .connectionLost)
        /// A new connection could not be opened.
        public static let connectFailed = Kind(base: .connectFailed)
        /// SQLSTATE 57014: the statement timed out or was cancelled.
        public static let queryCancelled = Kind(base: .queryCancelled)
        /// No connection became free within the pool's wait timeout.
        public static let poolTimeout = Kind(base: .poolTimeout)
        public static let poolClosed = Kind(base: .poolClosed)
        /// A column could not be decoded as the requested Swift type.
        public static let decoding = Kind(base: .decoding)
        /// A bound value PostgreSQL cannot take as it is: a text value holding a NUL character (libpq would cut it short
        /// there, so `"lea\u{0}x"` would be read as `"lea"`). Nothing was sent.
        public static let invalidValue = Kind(base: .invalidValue)
        /// libpq reported something this wrapper did not expect.
        public static let protocolError = Kind(base: .protocolError)

        public var description: String { "\(base)" }
    }

    public let kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    public let sqlState: String?
    public let message: String
    public let detail: String?
    public let hint: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    /// Serialization failures and deadlocks: running the whole transaction again is the right response.
    public var isRetryable: Bool { kind == .serializationFailure || kind == .deadlock }

    public var description: String {
        var text = sqlState.map { "PostgreSQL error \($0): \(message)" } ?? message
        if let detail { text += " (\(detail))" }
        if let hint { text += " Hint: \(hint)" }
        return text
    }

    static func kind(forSQLState state: String) -> Kind {
        switch state {
        case "23505": .uniqueViolation
        case "40001": .serializationFailure
        case "40P01": .deadlock
        case "57014": .queryCancelled
        case "57P01", "57P02", "57P03": .connectionLost
        case _ where state.hasPrefix("08"): .connectionLost
        default: .server
        }
    }
}
