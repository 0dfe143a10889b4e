import ArgumentParser
import CMalloc
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import StudyServer

/// Turns flags and environment into a `ServerConfiguration` and runs the application; nothing else happens here.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the API (the default command).")

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Address to listen on (env STUDY_SERVER_HOST).") var host = ProcessInfo.processInfo.environment["STUDY_SERVER_HOST"] ?? "127.0.0.1"
    @Option(help: "Port to listen on (env PORT).") var port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "") ?? 8080
    @Option(help: "Largest request body in bytes (env MAX_BODY_BYTES).") var maxBodyBytes =
        Int(ProcessInfo.processInfo.environment["MAX_BODY_BYTES"] ?? "") ?? 16 * 1024 * 1024
    @Option(help: "Database connections (env POOL_SIZE).") var poolSize = Int(ProcessInfo.processInfo.environment["POOL_SIZE"] ?? "") ?? 8
    @Option(
        name: .customLong("trusted-proxy"),
        help:
            "Address of a reverse proxy whose X-Forwarded-For names the client, for the login and registration limits; repeat for several (env TRUSTED_PROXIES, comma-separated)."
    )
    var trustedProxies: [String] = (ProcessInfo.processInfo.environment["TRUSTED_PROXIES"] ?? "").split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespaces)
    }.filter { !$0.isEmpty }
    @Option(
        help:
            "Who may register: open (anyone who reaches the server), invite (with a code from 'study-server users invite') or closed (only accounts 'study-server users add' makes) (env REGISTRATION)."
    )
    var registration = ProcessInfo.processInfo.environment["REGISTRATION"] ?? "open"
    @Option(
        name: .customLong("read-database-url"),
        help:
            "A standby for the leaderboards and reports (libpq URL; target_session_attrs=prefer-standby takes a list); a standby that is down or over 30 s behind is passed over for the primary (env READ_DATABASE_URL)."
    )
    var readDatabaseURL = ProcessInfo.processInfo.environment["READ_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    @Option(help: "Serve Prometheus metrics at /metrics on this port, on a listener of its own (env METRICS_PORT; default: none).")
    var metricsPort = Int(ProcessInfo.processInfo.environment["METRICS_PORT"] ?? "")
    @Option(help: "Address of the metrics listener: loopback unless you mean to expose it (env METRICS_HOST).")
    var metricsHost = ProcessInfo.processInfo.environment["METRICS_HOST"] ?? "127.0.0.1"
    @Flag(
        name: .customLong("no-migrate"),
        help: "Start only if the database has every migration, else exit naming the missing ones (run 'study-server migrate' first).")
    var noMigrate = false

    func validate() throws {
        guard (1...65535).contains(port) || port == 0 else { throw ValidationError("--port must be between 1 and 65535.") }
        guard (1...200).contains(poolSize) else { throw ValidationError("--pool-size must be between 1 and 200.") }
        guard maxBodyBytes >= 64 * 1024 else { throw ValidationError("--max-body-bytes must be at least 65536.") }
        guard RegistrationMode(rawValue: registration) != nil else { throw ValidationError("--registration must be open, invite or closed.") }
        if let metricsPort, !(1...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be between 1 and 65535.") }
        if let metricsPort, metricsPort == port { throw ValidationError("--metrics-port must differ from --port.") }
    }

    func run() async throws {
        // glibc gives each thread that allocates an arena of its own, up to 8 per core. A sync page is made on one
        // thread and freed on another, so memory freed in one arena waits there while the next page grows another: two
        // arenas took the sync benchmark's peak from about 100 to about 70 MiB (docs/benchmarks.md).
        // MALLOC_ARENA_MAX in the environment still decides when it is set.
        if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil { _ = studysync_limit_malloc_arenas(2) }
        var configuration = database.configuration
        configuration.host = host
        configuration.port = port
        configuration.maxBodyBytes = maxBodyBytes
        configuration.poolSize = poolSize
        configuration.trustedProxies = Set(trustedProxies)
        configuration.registration = RegistrationMode(rawValue: registration) ?? .open
        configuration.migrations = noMigrate ? .requireCurrent : .apply
        configuration.readDatabaseURL = readDatabaseURL
        if let metricsPort {
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            configuration.metrics = MetricsEndpoint(host: metricsHost, port: metricsPort, registry: registry)
        }
        try await operating(database) {
            let app = try await buildApplication(configuration)
            try await app.runService()
        }
    }
}
