/// Failed logins (and registrations) by key, in a sliding window, kept where every server on the database sees them:
/// the limits then hold across replicas. `LoginThrottle` keeps them in memory when the store does not offer this.
public protocol LoginFailureLog: Sendable {
    /// Counts one failure under each key at `now`, unless a key already has `limit` within the window: then nothing is
    /// counted and the milliseconds until the oldest of those leaves the window come back. Atomic per key, across
    /// servers.
    func admitFailure(keys: [(key: String, limit: Int)], windowMs: Int64, at now: Int64) async throws -> Int64?
    /// Clears every failure under `clearing`, and takes back the one counted under `takingBack` at `at`.
    func forgiveFailure(clearing: String, takingBack: String?, at: Int64) async throws
    /// Drops the failures counted before `before` under every key of `namespace` (`namespace:…`).
    func sweepFailures(namespace: String, before: Int64) async throws
}
