import EmbeddedPostgres
import Foundation
import LibPQ

#if canImport(Glibc)
    import Glibc
#endif

/// A real PostgreSQL for tests: one private throwaway cluster per test process, started on first use and stopped at exit,
/// and a fresh database for every test so that tests running in parallel never see each other's rows.
///
/// `STUDYSYNC_TEST_DATABASE_URL` points the tests at a server you run instead. There is no skipping: when no server can be
/// had, the tests that need one fail with the reason.
///
/// With `STUDYSYNC_TEST_CITUS` as well ("COORDINATOR_HOST:PORT WORKER_HOST:PORT …", the URL naming the coordinator),
/// every fresh database is a Citus cluster of its own: made on the coordinator and on each worker, the extension
/// created in each, the workers added to it (`scripts/test-citus` starts such nodes). The server's migrations then
/// distribute its tables.
public enum TestDatabase {
    private static let server: Result<LocalPostgres?, any Error> = Result {
        if ProcessInfo.processInfo.environment["STUDYSYNC_TEST_DATABASE_URL"] != nil { return nil }
        let server = try LocalPostgres.startTemporary(durable: false)
        atexit { TestDatabase.stopAtExit() }
        return server
    }

    /// The server's maintenance database (`postgres`).
    public static func serverConfiguration() throws -> PostgresConfiguration {
        if let url = ProcessInfo.processInfo.environment["STUDYSYNC_TEST_DATABASE_URL"] { return PostgresConfiguration(url: url) }
        return try server.get()!.configuration
    }

    /// The cluster this process started, if it started one (tests that stop and restart the server use it).
    public static var localServer: LocalPostgres? { try? server.get() }

    /// Makes the tests' databases. Every test of a parallel run asks at its start, and `CREATE DATABASE` copies a template,
    /// so on two busy cores the queue can be long: this harness waits for its turn rather than fail the test it serves.
    private static let admin: Result<PostgresPool, any Error> = Result {
        PostgresPool(configuration: try serverConfiguration(), size: 2, waitTimeout: .seconds(300))
    }

    /// Creates an empty database with a unique name and returns how to reach it.
    public static func fresh(_ label: String = "t") async throws -> PostgresConfiguration {
        let name = "\(label)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        try await create(name)
        return try serverConfiguration().database(name)
    }

    /// The Citus nodes of `STUDYSYNC_TEST_CITUS`: the coordinator, then the workers; empty without it.
    static let citusNodes: [(host: String, port: Int)] = (ProcessInfo.processInfo.environment["STUDYSYNC_TEST_CITUS"] ?? "")
        .split(separator: " ").compactMap { node in
            guard let colon = node.lastIndex(of: ":"), let port = Int(node[node.index(after: colon)...]) else { return nil }
            return (String(node[..<colon]), port)
        }

    /// Whether the tests run on Citus (`STUDYSYNC_TEST_CITUS`).
    public static var isCitus: Bool { !citusNodes.isEmpty }

    private static func create(_ name: String) async throws {
        try await admin.get().query("CREATE DATABASE \(identifier: name)")
        guard let coordinator = citusNodes.first else { return }
        func pool(_ node: (host: String, port: Int), _ database: String) -> PostgresPool {
            var configuration = PostgresConfiguration(parameters: ["host": node.host, "port": "\(node.port)", "user": "postgres", "dbname": database])
            // The setup's lock is waited for as long as the other tests' setups take.
            configuration.statementTimeoutMs = nil
            return PostgresPool(configuration: configuration, size: 1, waitTimeout: .seconds(300))
        }
        // One cluster at a time (tests run in parallel): adding a node writes the roles, which every database shares.
        try await withPool(pool(coordinator, "postgres")) { lock in
            try await lock.withTransaction { tx in
                try await tx.query("SELECT pg_advisory_xact_lock(7021021)")
                for worker in citusNodes.dropFirst() {
                    try await withPool(pool(worker, "postgres")) { try await $0.query("CREATE DATABASE \(identifier: name)") }
                    try await withPool(pool(worker, name)) { try await $0.query("CREATE EXTENSION citus") }
                }
                try await withPool(pool(coordinator, name)) { pool in
                    try await pool.query("CREATE EXTENSION citus")
                    try await pool.query("SELECT citus_set_coordinator_host(\(coordinator.host), \(Int32(coordinator.port)))")
                    for worker in citusNodes.dropFirst() { try await pool.query("SELECT citus_add_node(\(worker.host), \(Int32(worker.port)))") }
                }
            }
        }
    }

    /// Like `fresh`, as a libpq URL (for code configured by URL, such as the server).
    public static func freshURL(_ label: String = "t") async throws -> String {
        let name = "\(label)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
        try await create(name)
        if let url = ProcessInfo.processInfo.environment["STUDYSYNC_TEST_DATABASE_URL"] {
            return "\(url) dbname=\(name)".hasPrefix("postgres") ? url.replacingDatabase(with: name) : "\(url) dbname=\(name)"
        }
        let server = try server.get()!
        return "postgresql:///\(name)?host=\(server.socketDirectory.path)&port=\(server.port)&user=postgres"
    }

    private static func stopAtExit() {
        try? localServer?.stop()
    }
}

extension String {
    /// A `postgres://…/db?…` URL with its database replaced.
    func replacingDatabase(with name: String) -> String {
        guard var components = URLComponents(string: self) else { return self }
        components.path = "/" + name
        return components.string ?? self
    }
}

/// Runs `body` with `pool`, and closes the pool when `body` returns or throws, before this returns: a test's
/// connections never outlive it (a `defer { Task { await pool.close() } }` closed them some time later, or never).
public func withPool(_ pool: PostgresPool, _ body: (PostgresPool) async throws -> Void) async throws {
    do {
        try await body(pool)
    } catch {
        await pool.close()
        throw error
    }
    await pool.close()
}
