import LibPQ
import StudyStorage

extension PostgresStore: LoginFailureLog {
    public func admitFailure(keys: [(key: String, limit: Int)], windowMs: Int64, at now: Int64) async throws -> Int64? {
        guard !keys.isEmpty else { return nil }
        let names = keys.map(\.key).sorted()
        return try await retrying { tx in
            // One login at a time per key, on every server: the count and the insert below see each other.
            try await tx.query("SELECT pg_advisory_xact_lock(hashtextextended(k, 7)) FROM unnest(\(PostgresArray(names))::text[]) k ORDER BY k")
            var times: [String: [Int64]] = [:]
            for row in try await tx.query(
                "SELECT key, at FROM login_failures WHERE key = ANY(\(PostgresArray(names))::text[]) AND at > \(now - windowMs) ORDER BY key, at")
            {
                times[try row.decode(String.self, at: 0), default: []].append(try row.decode(Int64.self, at: 1))
            }
            var wait: Int64 = 0
            for (key, limit) in keys {
                let recent = times[key] ?? []
                if recent.count >= limit { wait = max(wait, recent[recent.count - limit] + windowMs - now) }
            }
            if wait > 0 { return wait }
            try await tx.query("INSERT INTO login_failures (key, at) SELECT k, \(now) FROM unnest(\(PostgresArray(names))::text[]) k")
            return nil
        }
    }

    public func forgiveFailure(clearing: String, takingBack: String?, at: Int64) async throws {
        try await pool.withTransaction { tx in
            try await tx.query("DELETE FROM login_failures WHERE key = \(clearing)")
            if let takingBack {
                try await tx.query(
                    "DELETE FROM login_failures WHERE id = (SELECT id FROM login_failures WHERE key = \(takingBack) AND at = \(at) LIMIT 1)")
            }
        }
    }

    public func sweepFailures(namespace: String, before: Int64) async throws {
        try await pool.query("DELETE FROM login_failures WHERE at <= \(before) AND starts_with(key, \(namespace + ":"))")
    }
}
