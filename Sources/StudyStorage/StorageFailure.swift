/// A store's failure as a caller acts on it; a store's own errors (`PostgresError` for `StudyPostgres`) conform, so the
/// HTTP layer answers them without knowing which database is behind the ports.
public protocol StorageFailure: Error, CustomStringConvertible {
    var failure: StorageFailureKind { get }
}

public enum StorageFailureKind: Sendable, Equatable {
    /// The store cannot be reached now (a restart, a failover, every connection busy): worth a retry in a few seconds.
    case unavailable
    /// A value the store cannot take (out of range, malformed, a NUL in text): a check the caller lacks.
    case invalidValue
    /// Anything else: a fault to log.
    case other
}

/// What `/readyz` asks: whether the store can serve requests now.
public protocol ReadinessCheck: Sendable {
    /// Throws when the store cannot be reached; else says what it is ("postgresql", or "citus" for a Citus cluster).
    func checkReachable() async throws -> String
}
