import Foundation
import LibPQ
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A private PostgreSQL server: a cluster in a directory of its own, listening only on a Unix socket in a private
/// directory, on a free port. Throwaway (a temporary directory removed by `stop()`) or persistent (a data directory kept
/// between runs). When the caller is root, `initdb` and `pg_ctl` run as the `postgres` user, since PostgreSQL refuses root.
public final class LocalPostgres: Sendable {
    public let dataDirectory: URL
    public let socketDirectory: URL
    public let port: Int
    /// Removed on `stop()` for a throwaway cluster.
    let temporaryRoot: URL?
    /// Where PostgreSQL's programs are (`initdb`, `pg_ctl`, `pg_dump`, …) for this cluster's version.
    public let binaries: URL
    let runAsPostgres: Bool
    /// False when this process found the server already running and only borrowed it.
    let owned: Bool
    /// Keeps a cluster started by `startSupervised` running, as this process's child.
    let supervisor: PostmasterSupervisor?

    /// A libpq URL for the `postgres` superuser and database.
    public var url: String { "postgresql:///postgres?host=\(socketDirectory.path)&port=\(port)&user=postgres" }

    public var configuration: PostgresConfiguration {
        PostgresConfiguration(parameters: ["host": socketDirectory.path, "port": String(port), "user": "postgres", "dbname": "postgres"])
    }

    /// Creates and starts a throwaway cluster. `durable: false` turns off fsync, for tests. `settings`: more lines of
    /// `postgresql.conf` (a benchmark's `shared_preload_libraries`, say), our own text, never a client's.
    public static func startTemporary(durable: Bool = false, settings: [String] = []) throws -> LocalPostgres {
        let root = try makePrivateDirectory(prefix: "studysync-pg-")
        do {
            return try start(data: root.appendingPathComponent("data"), socket: root, temporaryRoot: root, durable: durable, settings: settings)
        } catch {
            try? FileManager.default.removeItem(at: root)
            throw error
        }
    }

    /// Starts the cluster kept in `dataDirectory`, creating it on first use; reuses the server if it is already running.
    public static func startPersistent(dataDirectory: URL) throws -> LocalPostgres {
        if let running = try runningServer(in: dataDirectory) { return running }
        let socket = try makePrivateDirectory(prefix: "studysync-pgsock-")
        do {
            return try start(data: dataDirectory, socket: socket, temporaryRoot: nil, durable: true)
        } catch {
            try? FileManager.default.removeItem(at: socket)
            throw error
        }
    }

    /// Starts the cluster kept in `dataDirectory` (created on first use) as a child of this process, and keeps it
    /// running: when it dies it is started again, and when this process ends for any reason, a crash or `kill -9`
    /// included, it is stopped with it (Linux's parent-death signal, set by `setpriv`), so no postmaster is left behind.
    /// A server left running in `dataDirectory` by a process that is gone (an orphan) is stopped and started again
    /// under supervision; one that a live process runs is borrowed, as `startPersistent` does.
    public static func startSupervised(dataDirectory: URL, logger: Logger) throws -> LocalPostgres {
        if let running = try runningServer(in: dataDirectory) {
            guard running.isOrphan else { return running }
            logger.notice(
                "stopping a private PostgreSQL left running by a process that is gone", metadata: ["postgres.data": "\(dataDirectory.path)"])
            try run(
                running.binaries.appendingPathComponent("pg_ctl"), ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"],
                asPostgres: running.runAsPostgres)
        }
        let socket = try makePrivateDirectory(prefix: "studysync-pgsock-")
        do {
            let (binaries, asPostgres) = try prepare(data: dataDirectory, socket: socket, durable: true)
            let log = dataDirectory.appendingPathComponent("postgres.log")
            var argv = ["/usr/bin/env", "-C", "/", "/usr/bin/setpriv", "--pdeathsig", "INT"]
            if asPostgres { argv += ["--reuid=postgres", "--regid=postgres", "--init-groups"] }
            argv += ["--", binaries.appendingPathComponent("postgres").path, "-D", dataDirectory.path]
            let supervisor = PostmasterSupervisor(argv: argv, logPath: log.path, logger: logger)
            try supervisor.start()
            let server = LocalPostgres(
                dataDirectory: dataDirectory, socketDirectory: socket, port: try settingsPort(dataDirectory), temporaryRoot: nil, binaries: binaries,
                runAsPostgres: asPostgres, owned: true, supervisor: supervisor)
            do {
                try server.waitUntilAccepting()
            } catch {
                supervisor.stop()
                throw error
            }
            return server
        } catch {
            try? FileManager.default.removeItem(at: socket)
            throw error
        }
    }

    /// The postmaster's process id, while it runs (a supervised one: the current one).
    public var postmasterPID: Int32? {
        if let supervisor { return supervisor.currentPID }
        return Self.postmasterPID(in: dataDirectory)
    }

    static func postmasterPID(in data: URL) -> Int32? {
        guard let pidFile = try? String(contentsOf: data.appendingPathComponent("postmaster.pid"), encoding: .utf8),
            let pid = Int32(pidFile.split(separator: "\n").first ?? ""), kill(pid, 0) == 0
        else { return nil }
        return pid
    }

    /// Whether the postmaster's parent is gone: its process was adopted by init (or a subreaper), as when the server
    /// that started it crashed, or when `pg_ctl` started it.
    var isOrphan: Bool {
        guard let pid = Self.postmasterPID(in: dataDirectory),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ", options: .backwards)
        else { return false }
        let fields = stat[afterName.upperBound...].split(separator: " ")
        guard fields.count > 1, let parent = Int32(fields[1]) else { return false }
        if parent == 1 { return true }
        let name = (try? String(contentsOfFile: "/proc/\(parent)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return ["systemd", "init", "tini", "dumb-init"].contains(name)
    }

    /// The port written in the cluster's settings file by `prepare`.
    private static func settingsPort(_ data: URL) throws -> Int {
        let text = try String(contentsOf: data.appendingPathComponent("studysync.conf"), encoding: .utf8)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("port = ") }), let port = Int(line.dropFirst(7)) else {
            throw LocalPostgresError("The settings file in \(data.path) names no port.")
        }
        return port
    }

    /// Stops the server (fast shutdown: running transactions roll back) and removes a throwaway cluster's files, or a
    /// persistent cluster's socket directory (made for this run; the data stays).
    public func stop() throws {
        guard owned else { return }
        if let supervisor {
            supervisor.stop()
            try FileManager.default.removeItem(at: socketDirectory)
            return
        }
        try Self.run(binaries.appendingPathComponent("pg_ctl"), ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"], asPostgres: runAsPostgres)
        try FileManager.default.removeItem(at: temporaryRoot ?? socketDirectory)
    }

    init(
        dataDirectory: URL, socketDirectory: URL, port: Int, temporaryRoot: URL?, binaries: URL, runAsPostgres: Bool, owned: Bool,
        supervisor: PostmasterSupervisor? = nil
    ) {
        self.supervisor = supervisor
        self.dataDirectory = dataDirectory
        self.socketDirectory = socketDirectory
        self.port = port
        self.temporaryRoot = temporaryRoot
        self.binaries = binaries
        self.runAsPostgres = runAsPostgres
        self.owned = owned
    }

    private static func start(data: URL, socket: URL, temporaryRoot: URL?, durable: Bool, settings: [String] = []) throws -> LocalPostgres {
        let (binaries, asPostgres) = try prepare(data: data, socket: socket, durable: durable, settings: settings)
        let log = (temporaryRoot ?? data).appendingPathComponent("postgres.log")
        try run(binaries.appendingPathComponent("pg_ctl"), ["-D", data.path, "-l", log.path, "-w", "-t", "60", "start"], asPostgres: asPostgres)
        let server = LocalPostgres(
            dataDirectory: data, socketDirectory: socket, port: try settingsPort(data), temporaryRoot: temporaryRoot, binaries: binaries,
            runAsPostgres: asPostgres, owned: true)
        try server.waitUntilAccepting()
        return server
    }

    /// Creates the cluster on first use and writes its settings (a free port, the socket directory); returns where the
    /// server programs are and whether they run as the `postgres` user.
    private static func prepare(data: URL, socket: URL, durable: Bool, settings extra: [String] = []) throws -> (binaries: URL, asPostgres: Bool) {
        let binaries = try findBinaries()
        let asPostgres = getuid() == 0
        let fm = FileManager.default
        if !fm.fileExists(atPath: data.appendingPathComponent("PG_VERSION").path) {
            // Parents stay traversable (the postgres user must reach the data directory); the directory itself is private.
            try fm.createDirectory(at: data.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try fm.createDirectory(at: data, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            if asPostgres {
                try chownToPostgres(data)
                guard canPostgresReach(data) else {
                    throw LocalPostgresError(
                        "The postgres user cannot reach \(data.path) (a parent directory is private): choose a data directory it can reach, such as /var/lib/studysync/postgres."
                    )
                }
            }
            var arguments = ["-D", data.path, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"]
            if !durable { arguments.append("--no-sync") }
            try run(binaries.appendingPathComponent("initdb"), arguments, asPostgres: asPostgres)
        }
        let port = try freePort()
        // Settings go in a file of their own, included from postgresql.conf, so no value passes through a shell.
        var settings = [
            "listen_addresses = ''",
            "unix_socket_directories = '\(socket.path)'",
            "port = \(port)",
            "max_connections = 200",
            "shared_buffers = 128MB",
        ]
        if !durable { settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"] }
        settings += extra
        try (settings.joined(separator: "\n") + "\n").write(to: data.appendingPathComponent("studysync.conf"), atomically: true, encoding: .utf8)
        let conf = data.appendingPathComponent("postgresql.conf")
        let existing = (try? String(contentsOf: conf, encoding: .utf8)) ?? ""
        if !existing.contains("include_if_exists = 'studysync.conf'") {
            try (existing + "\ninclude_if_exists = 'studysync.conf'\n").write(to: conf, atomically: true, encoding: .utf8)
            if asPostgres { try chownToPostgres(conf) }
        }
        return (binaries, asPostgres)
    }

    /// The server already running on `dataDirectory`, read from its `postmaster.pid` (line 4: port, line 5: socket dir).
    private static func runningServer(in data: URL) throws -> LocalPostgres? {
        guard let pidFile = try? String(contentsOf: data.appendingPathComponent("postmaster.pid"), encoding: .utf8) else { return nil }
        let lines = pidFile.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count > 4, let pid = Int32(lines[0]), kill(pid, 0) == 0, let port = Int(lines[3]) else { return nil }
        let server = LocalPostgres(
            dataDirectory: data, socketDirectory: URL(fileURLWithPath: lines[4]), port: port, temporaryRoot: nil, binaries: try findBinaries(),
            runAsPostgres: getuid() == 0, owned: false)
        try server.waitUntilAccepting()
        return server
    }

    private func waitUntilAccepting() throws {
        var probe = configuration
        probe.connectTimeoutSeconds = 2
        for _ in 0..<100 {
            if probe.acceptsConnections() { return }
            usleep(100_000)
        }
        throw LocalPostgresError("PostgreSQL in \(dataDirectory.path) started but does not accept connections; see postgres.log there.")
    }

    private static func findBinaries() throws -> URL {
        let fm = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["PG_BINDIR"] { return URL(fileURLWithPath: explicit) }
        let base = "/usr/lib/postgresql"
        let versions = ((try? fm.contentsOfDirectory(atPath: base)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where fm.isExecutableFile(atPath: "\(base)/\(version)/bin/initdb") {
            return URL(fileURLWithPath: "\(base)/\(version)/bin")
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where fm.isExecutableFile(atPath: "\(dir)/initdb") {
            return URL(fileURLWithPath: String(dir))
        }
        throw LocalPostgresError(
            "PostgreSQL's server programs (initdb, pg_ctl) were not found: install them with 'apt-get install postgresql', or set DATABASE_URL to use a server you run yourself."
        )
    }

    /// A new private directory under the system's temporary directory, owned by `postgres` when we are root.
    private static func makePrivateDirectory(prefix: String) throws -> URL {
        // Unix socket paths are limited to 107 bytes, so these stay short and under /tmp.
        var template = Array("/tmp/\(prefix)XXXXXX".utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw LocalPostgresError("Cannot create a temporary directory in /tmp for PostgreSQL.")
        }
        let url = URL(fileURLWithPath: String(cString: path))
        if getuid() == 0 { try chownToPostgres(url) }
        return url
    }

    /// The `postgres` account's uid and gid, looked up once: `getpwnam` returns a shared static buffer, so two clusters
    /// starting at once on different threads could read each other's half-written entry.
    public static let postgresAccount: (uid: uid_t, gid: gid_t)? = {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwnam_r("postgres", &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return (entry.pw_uid, entry.pw_gid)
    }()

    /// Whether the postgres user may pass through every directory above `url`, as it must when we are root.
    private static func canPostgresReach(_ url: URL) -> Bool {
        guard let (uid, gid) = postgresAccount else { return false }
        var directory = url.deletingLastPathComponent()
        while directory.path != "/" {
            var info = stat()
            guard stat(directory.path, &info) == 0 else { return false }
            let bit = info.st_uid == uid ? S_IXUSR : info.st_gid == gid ? S_IXGRP : S_IXOTH
            if info.st_mode & bit == 0 { return false }
            directory = directory.deletingLastPathComponent()
        }
        return true
    }

    private static func chownToPostgres(_ url: URL) throws {
        guard let (uid, gid) = postgresAccount else {
            throw LocalPostgresError(
                "Running as root, PostgreSQL must run as the 'postgres' user, which does not exist: install the postgresql package.")
        }
        guard chown(url.path, uid, gid) == 0 else {
            throw LocalPostgresError("Cannot give \(url.path) to the postgres user: \(String(cString: strerror(errno))).")
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LocalPostgresError("Cannot open a socket to find a free port.") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw LocalPostgresError("Cannot find a free port.") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program to completion with `posix_spawn` and `waitpid`. Foundation's `Process` is not used: it can miss the
    /// exit of `pg_ctl start`, whose server child lives on. Output goes to a file, which the server may keep open.
    private static func run(_ program: URL, _ arguments: [String], asPostgres: Bool) throws {
        // `env -C /` runs it from a directory the postgres user may enter, whatever ours is.
        let argv = ["/usr/bin/env", "-C", "/"] + (asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []) + [program.path] + arguments
        let outputPath = "/tmp/studysync-\(program.lastPathComponent)-\(getpid())-\(UInt32.random(in: 0 ... .max)).log"
        defer { unlink(outputPath) }
        let pid = try spawn(argv, output: outputPath, appending: false)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard exitCode == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw LocalPostgresError(
                "\(program.lastPathComponent) failed (exit \(exitCode)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}

extension LocalPostgres {
    /// Starts `argv` with `posix_spawn`, standard input from /dev/null and standard output and error into the file at
    /// `output` (truncated, or appended to), and returns its process id; the caller waits for it.
    static func spawn(_ argv: [String], output: String, appending: Bool) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | (appending ? O_APPEND : O_TRUNC), 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid: pid_t = 0
        let args = argv.map { strdup($0) } + [nil]
        defer { args.forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, args, environ)
        guard spawned == 0 else { throw LocalPostgresError("Cannot run \(argv[0]): \(String(cString: strerror(spawned))).") }
        return pid
    }
}

public struct LocalPostgresError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
