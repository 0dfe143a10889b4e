import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the private PostgreSQL's postmaster as a child of this process, on a thread of its own that waits for it and
/// starts it again when it dies (after a pause that grows from 1 to 10 seconds while it keeps dying).
///
/// The child is spawned from that thread and the thread lives until `stop()`: the parent-death signal that `setpriv`
/// arms fires when the spawning *thread* ends, so spawning from a pool thread that the system may retire would stop
/// PostgreSQL at random. When the process ends, however it ends, the thread ends with it and the postmaster gets SIGINT
/// (a fast shutdown).
///
/// `@unchecked Sendable`: every mutable field is read and written under `condition`.
final class PostmasterSupervisor: @unchecked Sendable {
    private let argv: [String]
    private let logPath: String
    private let logger: Logger
    private let condition = NSCondition()
    private var pid: pid_t = 0
    private var stopping = false
    private var finished = false
    private var spawnError: String?
    private var spawned = false

    init(argv: [String], logPath: String, logger: Logger) {
        self.argv = argv
        self.logPath = logPath
        self.logger = logger
    }

    /// The postmaster's process id while one runs.
    var currentPID: pid_t? {
        condition.lock()
        defer { condition.unlock() }
        return pid > 0 ? pid : nil
    }

    /// Starts the supervising thread and returns once the first postmaster is spawned (not yet accepting connections).
    func start() throws {
        let thread = Thread { [self] in supervise() }
        thread.name = "studysync-postgres"
        thread.start()
        condition.lock()
        defer { condition.unlock() }
        while !spawned && spawnError == nil { condition.wait() }
        if let spawnError { throw LocalPostgresError(spawnError) }
    }

    /// Stops the postmaster (fast shutdown) and waits for it to exit; it is not started again.
    func stop() {
        condition.lock()
        stopping = true
        if pid > 0 { kill(pid, SIGINT) }
        let deadline = Date().addingTimeInterval(60)
        while !finished && condition.wait(until: deadline) {}
        if !finished && pid > 0 { kill(pid, SIGQUIT) }  // an immediate shutdown, when a fast one hangs
        condition.unlock()
    }

    private func supervise() {
        var pause: UInt32 = 1
        while true {
            let child: pid_t
            do {
                child = try LocalPostgres.spawn(argv, output: logPath, appending: true)
            } catch {
                let message = "\(error)"
                condition.lock()
                spawnError = message
                finished = true
                condition.broadcast()
                condition.unlock()
                logger.error("cannot start the private PostgreSQL", metadata: ["error": "\(message)"])
                return
            }
            condition.lock()
            pid = child
            spawned = true
            let stopNow = stopping
            condition.broadcast()
            condition.unlock()
            if stopNow { kill(child, SIGINT) }
            let started = Date()
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            condition.lock()
            pid = 0
            if stopping {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.unlock()
            // A postmaster that ran a while before dying is started again at once; one that dies on start, after a pause.
            if Date().timeIntervalSince(started) > 30 { pause = 1 }
            logger.error(
                "the private PostgreSQL stopped; starting it again",
                metadata: ["postgres.exit": "\(Self.describe(status))", "postgres.retry_in_s": "\(pause)", "postgres.log": "\(logPath)"])
            sleep(pause)
            pause = min(pause * 2, 10)
        }
    }

    private static func describe(_ status: Int32) -> String {
        (status & 0x7f) == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
    }
}
