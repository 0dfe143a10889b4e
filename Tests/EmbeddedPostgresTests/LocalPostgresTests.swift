import EmbeddedPostgres
import Foundation
import LibPQ
import PostgresTestSupport
import Testing

@Suite struct LocalPostgresTests {
    @Test func aPersistentClusterKeepsItsDataBetweenRuns() async throws {
        let parent = URL(fileURLWithPath: "/tmp/studysync-persist-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: parent) }
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        if getuid() == 0, let account = LocalPostgres.postgresAccount { chown(parent.path, account.uid, account.gid) }
        let data = parent.appendingPathComponent("data")

        let first = try LocalPostgres.startPersistent(dataDirectory: data)
        let pool = PostgresPool(configuration: first.configuration, size: 1)
        try await pool.query("CREATE TABLE kept (note text)")
        try await pool.query("INSERT INTO kept VALUES (\("still here"))")
        // A second start while it runs borrows the running server instead of starting another.
        let borrowed = try LocalPostgres.startPersistent(dataDirectory: data)
        #expect(borrowed.port == first.port)
        await pool.close()
        try first.stop()
        // Stopping leaves the data and nothing else: the run's socket directory is gone.
        #expect(!FileManager.default.fileExists(atPath: first.socketDirectory.path))

        let second = try LocalPostgres.startPersistent(dataDirectory: data)
        let again = PostgresPool(configuration: second.configuration, size: 1)
        #expect(try await again.query("SELECT note FROM kept").scalar(String.self) == "still here")
        await again.close()
        try second.stop()
        #expect(!FileManager.default.fileExists(atPath: second.socketDirectory.path))
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("PG_VERSION").path))
    }

    @Test func stoppingTheServerMidRunGivesClearErrorsNotAHang() async throws {
        let server = try LocalPostgres.startTemporary()
        var config = server.configuration
        config.connectTimeoutSeconds = 2
        let pool = PostgresPool(configuration: config, size: 2, waitTimeout: .seconds(3))
        try await withPool(pool) { pool async throws in
            #expect(try await pool.query("SELECT 1").scalar(Int.self) == 1)
            let started = ContinuousClock.now
            let running = Task { try await pool.query("SELECT pg_sleep(30)") }
            try await Task.sleep(for: .milliseconds(300))
            try server.stop()
            await #expect {
                try await running.value
            } throws: { error in
                guard let error = error as? PostgresError else { return false }
                return error.kind == .connectionLost
            }
            await #expect {
                try await pool.query("SELECT 1")
            } throws: { error in
                guard let error = error as? PostgresError else { return false }
                return error.kind == .connectFailed && error.description.contains("Cannot connect to PostgreSQL")
            }
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(!FileManager.default.fileExists(atPath: server.dataDirectory.path))
        }
    }
}
