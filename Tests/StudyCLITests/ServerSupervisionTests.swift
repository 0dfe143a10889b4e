import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The embedded PostgreSQL under the real `study-server` executable: started again when it dies, and never left running
/// after the server stops, however it stops (issue 15: after a crash the postmaster was orphaned for good).
@Suite(.serialized) struct ServerSupervisionTests {
    /// A `study-server` process on the embedded default, in a data directory of its own.
    final class Server {
        let process = Process()
        let data: URL
        let log: URL

        init() throws {
            let root = cliTestRoot.appendingPathComponent("server-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            data = root.appendingPathComponent("pg")
            log = root.appendingPathComponent("server.log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = StudyProcess.executable.deletingLastPathComponent().appendingPathComponent("study-server")
            process.arguments = ["--data-dir", data.path, "--port", "0"]
            var environment = ProcessInfo.processInfo.environment
            environment["DATABASE_URL"] = nil
            process.environment = environment
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            try wait("the server to listen") { (try? String(contentsOf: log, encoding: .utf8))?.contains("listening on") == true }
        }

        /// The postmaster's pid from its pid file, when that process is alive.
        var postmaster: Int32? {
            guard let text = try? String(contentsOf: data.appendingPathComponent("postmaster.pid"), encoding: .utf8),
                let pid = Int32(text.split(separator: "\n").first ?? ""), kill(pid, 0) == 0
            else { return nil }
            return pid
        }

        deinit {
            if process.isRunning { process.terminate() }
        }
    }

    static func wait(_ what: String, seconds: Double = 30, until condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(100_000)
        }
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }

    /// A process that has exited but was not reaped is still "alive" to kill(2): it counts as gone.
    static func isGone(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return true }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.contains(") Z ")
    }

    @Test func aPostmasterThatDiesIsStartedAgain() throws {
        let server = try Server()
        let first = try #require(server.postmaster)
        kill(first, SIGKILL)
        try Self.wait("a new postmaster") { server.postmaster.map { $0 != first } ?? false }
        #expect(try String(contentsOf: server.log, encoding: .utf8).contains("starting it again"))
        server.process.terminate()
        server.process.waitUntilExit()
    }

    @Test func theServerStoppingForAnyReasonStopsItsPostgreSQL() throws {
        // SIGTERM: a clean stop, PostgreSQL with it.
        let stopped = try Server()
        let postmaster = try #require(stopped.postmaster)
        stopped.process.terminate()
        stopped.process.waitUntilExit()
        #expect(stopped.process.terminationStatus == 0)
        try Self.wait("the postmaster to stop after SIGTERM") { Self.isGone(postmaster) }

        // kill -9: no chance to clean up, and PostgreSQL still stops (the parent-death signal).
        let crashed = try Server()
        let orphan = try #require(crashed.postmaster)
        kill(crashed.process.processIdentifier, SIGKILL)
        crashed.process.waitUntilExit()
        try Self.wait("the postmaster to stop after the server was killed") { Self.isGone(orphan) }
    }
}

extension ServerSupervisionTests.Server {
    func wait(_ what: String, until condition: () throws -> Bool) throws { try ServerSupervisionTests.wait(what, until: condition) }
}
