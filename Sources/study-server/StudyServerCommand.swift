import ArgumentParser
import Foundation
import Logging
import StudyAPI
import StudyServer

/// `study-server`: serves (the default), or runs one operator command on the configured database and exits.
@main
struct StudyServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study-server",
        abstract: "The StudySync sync server, and the operator's commands for its database.",
        discussion: """
            With no subcommand it serves ('study-server serve --help' lists the settings). With no DATABASE_URL it \
            creates and starts a private PostgreSQL of its own and says where its data is; the operator's commands use \
            the same database (a running server's private PostgreSQL is borrowed).
            """,
        version: StudySyncVersion.current,
        subcommands: [Serve.self, Migrate.self, Users.self, Backup.self, Restore.self],
        defaultSubcommand: Serve.self)
}

/// Where the database is, and how much to log: what every command needs.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (env DATABASE_URL); omit to use the private PostgreSQL.")
    var databaseURL: String?
    @Option(name: .customLong("data-dir"), help: "Where the private PostgreSQL keeps its data (env STUDY_SERVER_DATA).")
    var dataDirectory: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (env LOG_LEVEL).") var logLevel =
        ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"
    @Option(help: "text (for a person) or json (one object per line, for a log collector) (env LOG_FORMAT).") var logFormat =
        ProcessInfo.processInfo.environment["LOG_FORMAT"] ?? "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.")
        }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json.") }
    }

    /// Sends every logger of the process to the chosen format; once, before anything logs.
    func bootstrapLogging() {
        if logFormat == "json" { LoggingSystem.bootstrap { JSONLogHandler(label: $0) } }
    }

    var database: ServerConfiguration.Database {
        let environment = ProcessInfo.processInfo.environment
        let url = databaseURL ?? environment["DATABASE_URL"]
        let directory = dataDirectory ?? environment["STUDY_SERVER_DATA"]
        if let url, !url.isEmpty { return .url(url) }
        return .embedded(dataDirectory: directory.map { URL(fileURLWithPath: $0) } ?? ServerConfiguration.defaultDataDirectory())
    }

    var configuration: ServerConfiguration {
        var configuration = ServerConfiguration(database: database)
        configuration.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return configuration
    }

    var logger: Logger {
        var logger = Logger(label: "study-server")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

/// Turns an operator command's failure into its sentence and a non-zero exit, without a stack of Swift errors.
func operating(_ options: DatabaseOptions, _ body: () async throws -> Void) async throws {
    options.bootstrapLogging()
    do {
        try await body()
    } catch let error as OperationError {
        FileHandle.standardError.write(Data("study-server: \(error.description)\n".utf8))
        throw ExitCode.failure
    }
}
