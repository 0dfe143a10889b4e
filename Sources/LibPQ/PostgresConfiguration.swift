import CLibPQ

/// How to reach PostgreSQL. Values are handed to `PQconnectdbParams` as keyword/value pairs, never pasted into a string.
public struct PostgresConfiguration: Sendable {
    /// Keyword/value pairs; a `dbname` holding a `postgres://` URL or a `key=value` string is expanded by libpq.
    public var parameters: [(String, String)]
    public var applicationName = "studysync"
    /// Seconds libpq waits for a connection before giving up.
    public var connectTimeoutSeconds = 5
    /// Milliseconds a statement may run before the server cancels it; nil for no limit.
    public var statementTimeoutMs: Int? = 30_000

    /// From a `postgres://` or `postgresql://` URL, or a `key=value ...` connection string.
    public init(url: String) {
        parameters = [("dbname", url)]
    }

    /// From libpq keyword/value pairs, such as `["host": "/tmp/pg", "port": "5432", "user": "postgres", "dbname": "app"]`.
    public init(parameters: [String: String]) {
        self.parameters = parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The same server, another database.
    public func database(_ name: String) -> PostgresConfiguration {
        var copy = self
        copy.parameters.append(("dbname", name))
        return copy
    }

    /// Whether a server answers at this address and accepts connections now (`PQpingParams`; nothing is logged in).
    public func acceptsConnections() -> Bool {
        let pairs = keywordValues
        return pairs.map(\.0).withCStringArray { keywords in pairs.map(\.1).withCStringArray { values in PQpingParams(keywords, values, 0) } }
            == PQPING_OK
    }

    /// Everything `PQconnectdbParams` receives. Later pairs override earlier ones, including those expanded from a URL,
    /// so the session settings pinned here always win.
    var keywordValues: [(String, String)] {
        var options = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=3"
        if let statementTimeoutMs { options += " -c statement_timeout=\(statementTimeoutMs)" }
        // libpq expands only the first dbname as a URL; a later one (from `database(_:)`) is a plain name that overrides it.
        return parameters + [
            ("connect_timeout", String(connectTimeoutSeconds)),
            ("application_name", applicationName),
            ("client_encoding", "UTF8"),
            ("options", options),
        ]
    }
}
