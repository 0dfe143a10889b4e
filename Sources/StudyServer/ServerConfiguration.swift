import Foundation
import Logging

/// Everything the server needs to start, built by `study-server` from flags and environment, or by a test.
public struct ServerConfiguration: Sendable {
    public enum Database: Sendable {
        /// A PostgreSQL you run: a `postgres://` URL or libpq key/value string.
        case url(String)
        /// The private PostgreSQL the server creates and starts itself, kept in this directory.
        case embedded(dataDirectory: URL)
    }

    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 8080
    public var database: Database
    public var logLevel: Logger.Level = .info
    /// The largest request body accepted, in bytes; advertised by `GET /v1/meta`.
    public var maxBodyBytes = 16 * 1024 * 1024
    public var poolSize = 8
    /// bcrypt's cost factor: 12 by default; tests lower it to stay fast.
    public var bcryptCost: UInt8 = 12
    /// Failed logins allowed per username, and per client address, within `loginWindowMs`.
    public var loginFailuresPerUsername = 5
    public var loginFailuresPerAddress = 30
    public var loginWindowMs: Int64 = 15 * 60_000
    /// Accounts one client address may register within `registrationWindowMs`.
    public var registrationsPerAddress = 20
    public var registrationWindowMs: Int64 = 60 * 60_000
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client (rate limits count per client address);
    /// without them every client behind a proxy shares its address.
    public var trustedProxies: Set<String> = []
    /// The connection cap and the read timeouts (`ConnectionGuard`).
    public var connectionLimits = ConnectionLimits()
    /// How long a device token lives; nil for until revoked.
    public var tokenLifetimeMs: Int64? = 365 * 24 * 3_600_000

    /// A standby (or a list of them, as libpq takes them) for the boards and reports; nil: the primary serves them.
    public var readDatabaseURL: String?
    /// How far behind the standby may be before its reads go to the primary instead.
    public var maxReadLagMs: Int64 = 30_000
    /// Where `/metrics` is served (`--metrics-port`), on a listener of its own; nil: nowhere.
    public var metrics: MetricsEndpoint?
    /// Who may register (`--registration`).
    public var registration = RegistrationMode.open
    /// Whether starting applies pending migrations or refuses to start while there are any (`--no-migrate`).
    public var migrations = MigrationPolicy.apply
    /// Whether this server folds the pushes' changes into the question reports' sums and the boards in the background
    /// (`QuestionSumsFolder`). Reports and boards are exact either way; tests that fold by hand, at chosen moments, turn
    /// it off.
    public var foldsQuestionSums = true
    /// Whether starting opens every connection of the pool and readies it for a sync (`PostgresStore.warmConnections`),
    /// so that the first requests after a start do not pay for new PostgreSQL backends. The tests, which start many
    /// servers at once on one PostgreSQL, turn it off where they do not test it.
    public var opensConnectionsAtStart = true

    public init(database: Database) { self.database = database }

    /// Where the embedded PostgreSQL lives when none is given: `$XDG_DATA_HOME/studysync-server/postgres`, or
    /// `/var/lib/studysync/postgres` for root (whose home the `postgres` user may not enter).
    public static func defaultDataDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if getuid() == 0 { return URL(fileURLWithPath: "/var/lib/studysync/postgres") }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg).appendingPathComponent("studysync-server/postgres")
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".local/share/studysync-server/postgres")
    }
}

/// Who may create an account through `POST /v1/accounts`.
public enum RegistrationMode: String, Sendable, CaseIterable {
    /// Anyone who reaches the server (the first account becomes its admin).
    case open
    /// Those with a server invite code an admin made (`study-server users invite`).
    case invite
    /// No one: an admin adds accounts (`study-server users add`).
    case closed
}

/// What starting the server does with migrations the database lacks.
public enum MigrationPolicy: Sendable {
    /// Applies them (the default: one command starts a server).
    case apply
    /// Refuses to start, naming them: for several replicas, where `study-server migrate` runs once before a rollout.
    case requireCurrent
}
