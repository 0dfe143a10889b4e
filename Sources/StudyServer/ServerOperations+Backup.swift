import Foundation
import LibPQ
import Logging
import StudyPostgres

extension ServerOperations {
    /// `study-server backup FILE`: the whole database in `pg_dump`'s custom format (compressed; `pg_restore` reads it).
    public static func backup(_ configuration: ServerConfiguration, to file: String, logger: Logger) async throws {
        guard !FileManager.default.fileExists(atPath: file) else {
            throw OperationError("\(file) exists already: give a new file name, so that no backup is overwritten.")
        }
        // Readable by its owner only: it holds every account's password hash.
        guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw OperationError("Cannot create \(file): check that its folder exists and is writable.")
        }
        do {
            try await withDatabase(configuration, logger: logger) { pool, _, connection in
                if try await DatabaseTopology.isCitus(pool) {
                    throw OperationError(
                        "The database is a Citus cluster, whose tables live on its workers: pg_dump of the coordinator is not a backup of it. Back up every node (pg_basebackup, or your provider's snapshots), as SCALING.md describes."
                    )
                }
                try run(program("pg_dump", connection), ["--format=custom", "--file=\(file)", "--dbname=\(connection.url)"], doing: "pg_dump")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: file)  // no half a backup left to be mistaken for one
            throw error
        }
    }

    /// `study-server restore FILE`: loads a backup into the configured database, in one transaction. An empty database
    /// only, unless `force`: then everything in it is replaced by the backup.
    public static func restore(_ configuration: ServerConfiguration, from file: String, force: Bool, logger: Logger) async throws {
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw OperationError("Cannot read \(file): give the file 'study-server backup' wrote.")
        }
        try await withDatabase(configuration, logger: logger) { pool, _, connection in
            let restore = try program("pg_restore", connection)
            // Read first: a file that is not a backup is refused before anything is touched.
            do { try run(restore, ["--list", file], doing: "pg_restore") } catch {
                throw OperationError("\(file) is not a backup that 'study-server backup' (pg_dump's custom format) wrote.")
            }
            let tables =
                try await pool.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").scalar(Int.self) ?? 0
            // Into a Citus coordinator: the tables come back local, and the server's next start distributes them (the move
            // from one PostgreSQL to Citus in SCALING.md). Only into an empty database: --clean would drop distributed tables.
            if try await DatabaseTopology.isCitus(pool) && tables > 0 {
                throw OperationError(
                    "The database is a Citus cluster with \(tables) tables: restore into an empty database on the coordinator (with the citus extension and its workers added), then start study-server on it."
                )
            }
            if tables > 0 && !force {
                throw OperationError(
                    "The database is not empty (\(tables) tables): restore into an empty one, or pass --force to replace everything in it with the backup (take a backup of it first)."
                )
            }
            await pool.close()
            var arguments = ["--no-owner", "--exit-on-error", "--single-transaction", "--dbname=\(connection.url)"]
            if force { arguments += ["--clean", "--if-exists"] }
            try run(restore, arguments + [file], doing: "pg_restore")
        }
    }

    /// PostgreSQL's `name` program: the private PostgreSQL's own, else the newest Debian installs, else the PATH's.
    static func program(_ name: String, _ connection: Connection) throws -> URL {
        var candidates: [URL] = []
        if let binaries = connection.binaries { candidates.append(binaries.appendingPathComponent(name)) }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.compactMap(Int.init).sorted(by: >) {
            candidates.append(URL(fileURLWithPath: "/usr/lib/postgresql/\(version)/bin/\(name)"))
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            candidates.append(URL(fileURLWithPath: String(directory)).appendingPathComponent(name))
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw OperationError("PostgreSQL's \(name) was not found: install it (apt-get install postgresql-client).")
        }
        return found
    }

    /// Runs a program to its end; its standard error becomes the error's sentence when it fails.
    static func run(_ program: URL, _ arguments: [String], doing what: String) throws {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OperationError("\(what) failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines)). Nothing was changed.")
        }
    }
}
