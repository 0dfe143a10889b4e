import ArgumentParser
import CMalloc
import Foundation
import Hummingbird
import Logging
import StudyServer

/// Turns flags and environment into a `ServerConfiguration` and runs the application; nothing else happens here.
@main
struct StudyServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study-server",
        abstract: "The StudySync sync server.",
        discussion: "With no DATABASE_URL it creates and starts a private PostgreSQL of its own and says where its data is.")

    @Option(help: "Address to listen on (env STUDY_SERVER_HOST).") var host = ProcessInfo.processInfo.environment["STUDY_SERVER_HOST"] ?? "127.0.0.1"
    @Option(help: "Port to listen on (env PORT).") var port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "") ?? 8080
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env DATABASE_URL); omit to use the private PostgreSQL.")
    var databaseURL: String?
    @Option(name: .customLong("data-dir"), help: "Where the private PostgreSQL keeps its data (env STUDY_SERVER_DATA).")
    var dataDirectory: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (env LOG_LEVEL).") var logLevel =
        ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"
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

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.")
        }
        guard (1...65535).contains(port) || port == 0 else { throw ValidationError("--port must be between 1 and 65535.") }
        guard (1...200).contains(poolSize) else { throw ValidationError("--pool-size must be between 1 and 200.") }
        guard maxBodyBytes >= 64 * 1024 else { throw ValidationError("--max-body-bytes must be at least 65536.") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        // glibc gives each thread that allocates an arena of its own, up to 8 per core. A sync page is made on one
        // thread and freed on another, so memory freed in one arena waits there while the next page grows another: two
        // arenas took the sync benchmark's peak from about 100 to about 70 MiB (docs/benchmarks.md).
        // MALLOC_ARENA_MAX in the environment still decides when it is set.
        if environment["MALLOC_ARENA_MAX"] == nil { _ = studysync_limit_malloc_arenas(2) }
        let url = databaseURL ?? environment["DATABASE_URL"]
        let directory = dataDirectory ?? environment["STUDY_SERVER_DATA"]
        let database: ServerConfiguration.Database =
            if let url, !url.isEmpty { .url(url) } else {
                .embedded(dataDirectory: directory.map { URL(fileURLWithPath: $0) } ?? ServerConfiguration.defaultDataDirectory())
            }
        var configuration = ServerConfiguration(database: database)
        configuration.host = host
        configuration.port = port
        configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        configuration.maxBodyBytes = maxBodyBytes
        configuration.poolSize = poolSize
        configuration.trustedProxies = Set(trustedProxies)
        let app = try await buildApplication(configuration)
        try await app.runService()
    }
}
