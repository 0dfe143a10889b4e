import Foundation
import LibPQ
import PostgresTestSupport
import StudyAPI
import StudyClient
import StudyCore
import StudyDecks
import Testing

/// The built `study-server` executable, run as an operator runs it, on a database of the test's own.
struct OperatorCommand {
    let databaseURL: String

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static var executable: URL {
        // The test bundle is built next to the products; the executables sit beside it.
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("study-server")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return products.appendingPathComponent("study-server")
    }

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment["LOG_LEVEL"] = "warning"
        return environment
    }

    @discardableResult
    func run(_ arguments: [String], input: String = "") throws -> Output {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        process.environment = environment
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    /// A serving `study-server` with `arguments`; its URL once it listens.
    final class Server {
        let process = Process()
        let log: URL
        private(set) var url = ""

        init(_ command: OperatorCommand, _ arguments: [String]) throws {
            log = FileManager.default.temporaryDirectory.appendingPathComponent("study-server-\(UUID().uuidString).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = OperatorCommand.executable
            process.arguments = ["serve", "--port", "0", "--log-level", "info"] + arguments
            process.environment = command.environment
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if let range = text.range(of: #"listening on 127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                    url = "http://" + text[range].dropFirst("listening on ".count)
                    return
                }
                guard process.isRunning else { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw HarnessError.status(.internalServerError, "study-server did not listen: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }

        /// SIGTERM, then the exit status.
        func stop() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        deinit {
            if process.isRunning { process.terminate() }
            try? FileManager.default.removeItem(at: log)
        }
    }
}

/// An operator's day (issue 18), with the real executable and a real PostgreSQL: migrations on demand, closed
/// registration, accounts added, disabled and deleted without SQL, a backup restored into a dropped database.
@Suite(.serialized) struct OperatorTests {
    /// The server's own clock (the real one): answers stamped by it are on the boards, not flagged for a wrong clock.
    let now = Int64(Date().timeIntervalSince1970 * 1000)

    func attempts(_ count: Int, device: String, deck: Deck) -> [Attempt] {
        (0..<count).map { i in
            let question = deck.questions[i % deck.questions.count]
            return Attempt(
                id: UUID().uuidString.lowercased(), deviceID: device, questionID: question.id, questionVersion: question.version,
                chosen: question.correct, correct: true, answeredAt: now - Int64(count - i) * 60_000, durationMs: 3_000,
                sessionID: UUID().uuidString.lowercased())
        }
    }

    @Test func anOperatorsDay() async throws {
        let url = try await TestDatabase.freshURL("ops")
        let admin = OperatorCommand(databaseURL: url)

        // --no-migrate on a database without the schema: refused, naming what is missing.
        let early = try admin.run(["serve", "--no-migrate", "--port", "0"])
        #expect(early.status != 0)
        #expect(early.stderr.contains("001_accounts.sql") && early.stderr.contains("study-server migrate"), "\(early.stderr)")

        let migrated = try admin.run(["migrate"])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.hasPrefix("Applied "), "\(migrated.stdout)")
        #expect(try admin.run(["migrate"]).stdout.contains("nothing to apply"))

        #expect(try admin.run(["users", "add", "root", "--role", "admin", "--password-stdin"], input: "correct horse\n").status == 0)
        let badName = try admin.run(["users", "add", "Root!", "--password-stdin"], input: "correct horse\n")
        #expect(badName.status != 0 && badName.stderr.contains("A username is 3 to 32 characters"), "\(badName.stderr)")

        let server = try OperatorCommand.Server(admin, ["--no-migrate", "--registration", "closed"])
        let anonymous = try ServerAPI(server: server.url, environment: [:])
        #expect(try await anonymous.meta().registration == "closed")
        // Closed: the API refuses with the sentence, and the CLI's error carries it.
        do {
            _ = try await anonymous.register(username: "eve", password: "correct horse", displayName: nil)
            Issue.record("registration was not refused")
        } catch let error as ServerError {
            #expect(error.status == 403)
            #expect(error.message.contains("ask its administrator"), "\(error.message)")
        }

        // An account the admin adds logs in; disabling it logs out its devices at once and stops its logins.
        #expect(try admin.run(["users", "add", "amy", "--password-stdin"], input: "amy's password\n").status == 0)
        let amyLogin = try await anonymous.login(
            username: "amy", password: "amy's password", deviceID: UUID().uuidString.lowercased(), deviceName: "laptop")
        let amy = try ServerAPI(server: server.url, token: amyLogin.token, environment: [:])
        #expect(try await amy.devices().count == 1)
        #expect(try admin.run(["users", "disable", "amy"]).status == 0)
        await #expect(throws: ServerError.self) { _ = try await amy.devices() }
        do {
            _ = try await anonymous.login(username: "amy", password: "amy's password", deviceID: UUID().uuidString.lowercased(), deviceName: "x")
            Issue.record("a disabled account logged in")
        } catch let error as ServerError {
            #expect(error.status == 403 && error.message.contains("disabled"), "\(error.message)")
        }
        #expect(try admin.run(["users", "enable", "amy"]).status == 0)
        let amyAgain = try await anonymous.login(
            username: "amy", password: "amy's password", deviceID: UUID().uuidString.lowercased(), deviceName: "desktop")
        let amy2 = try ServerAPI(server: server.url, token: amyAgain.token, environment: [:])

        // The admin's team, with amy on its board after she studies.
        let rootLogin = try await anonymous.login(
            username: "root", password: "correct horse", deviceID: UUID().uuidString.lowercased(), deviceName: "admin")
        let root = try ServerAPI(server: server.url, token: rootLogin.token, environment: [:])
        let team = try await root.createTeam(name: "Ops", timeZone: "UTC", weekStart: 1)
        let code = try await root.invite(team: team.id, role: "member", maxUses: 5, expiresInHours: 24)
        _ = try await amy2.join(code: code.code)
        let deck = try SeedFormat.parse(BundledDecks.all()[0].text, name: BundledDecks.all()[0].name)
        let amyAnswers = attempts(6, device: amyAgain.deviceId, deck: deck)
        _ = try await amy2.sync(SyncRequest(clientTime: now, cursor: 0, attempts: amyAnswers))
        #expect(try await root.leaderboard(team: team.id, window: "all", offset: 0, limit: 50).rows.contains { $0.displayName == "amy" })

        // Export: her answers in `study backup`'s form.
        let exportFile = FileManager.default.temporaryDirectory.appendingPathComponent("amy-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: exportFile) }
        #expect(try admin.run(["users", "export", "amy", exportFile.path]).status == 0)
        let exported = try String(contentsOf: exportFile, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(Attempt.self, from: Data($0.utf8))
        }
        #expect(Set(exported) == Set(amyAnswers))

        // The admin's own answers, then a backup.
        let rootAnswers = attempts(5, device: rootLogin.deviceId, deck: deck)
        _ = try await root.sync(SyncRequest(clientTime: now, cursor: 0, attempts: rootAnswers))
        let backupFile = FileManager.default.temporaryDirectory.appendingPathComponent("studysync-\(UUID().uuidString).dump")
        defer { try? FileManager.default.removeItem(at: backupFile) }
        let backup = try admin.run(["backup", backupFile.path])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(try admin.run(["backup", backupFile.path]).stderr.contains("exists already"))
        #expect(try FileManager.default.attributesOfItem(atPath: backupFile.path)[.posixPermissions] as? Int == 0o600)

        // Delete amy: gone from the board and the user list, the team stays.
        #expect(try admin.run(["users", "delete", "amy", "--yes"]).status == 0)
        #expect(try await !root.leaderboard(team: team.id, window: "all", offset: 0, limit: 50).rows.contains { $0.displayName == "amy" })
        #expect(try !admin.run(["users", "list"]).stdout.contains("amy"))

        // After the backup, a new password logs every device out; it logs in.
        #expect(try admin.run(["users", "reset-password", "root", "--password-stdin"], input: "another horse\n").status == 0)
        await #expect(throws: ServerError.self) { _ = try await root.devices() }
        _ = try await anonymous.login(username: "root", password: "another horse", deviceID: UUID().uuidString.lowercased(), deviceName: "new")
        #expect(try admin.run(["users", "set-role", "root", "wizard"]).status != 0)

        // Restore over a database that is not empty: refused; then the database is dropped, made again and restored.
        #expect(server.stop() == 0, "\(server.output)")
        let refused = try admin.run(["restore", backupFile.path])
        #expect(refused.status != 0 && refused.stderr.contains("--force"), "\(refused.stderr)")
        let name = try #require(url.split(separator: "?").first?.split(separator: "/").last.map(String.init))
        let maintenance = PostgresPool(configuration: try TestDatabase.serverConfiguration(), size: 1)
        try await withPool(maintenance) { maintenance in
            try await maintenance.query("DROP DATABASE \(identifier: name) WITH (FORCE)")
            try await maintenance.query("CREATE DATABASE \(identifier: name)")
        }
        let restored = try admin.run(["restore", backupFile.path])
        #expect(restored.status == 0, "\(restored.stderr)")
        // --force replaces a database that is not empty (here: with the same backup).
        let forced = try admin.run(["restore", "--force", backupFile.path])
        #expect(forced.status == 0, "\(forced.stderr)")

        // The device syncs again: everything back (amy too, as she was at the backup), nothing twice.
        let again = try OperatorCommand.Server(admin, ["--no-migrate"])
        defer { _ = again.stop() }
        let rootBack = try ServerAPI(server: again.url, token: rootLogin.token, environment: [:])
        let pulled = try await rootBack.sync(SyncRequest(clientTime: now, cursor: 0, attempts: rootAnswers, pullLimit: 0))
        #expect(pulled.results.allSatisfy { $0.status == .duplicate }, "\(pulled.results)")
        #expect(try admin.run(["users", "list"]).stdout.contains("amy"))
        #expect(try await rootBack.leaderboard(team: team.id, window: "all", offset: 0, limit: 50).rows.contains { $0.displayName == "amy" })
    }
}

/// `--registration invite`: only with a live code from `study-server users invite`, one use per account.
struct RegistrationByInvitationTests {
    @Test func anInviteRegistersAsManyAccountsAsItsUsesAndNoMore() async throws {
        let url = try await TestDatabase.freshURL("invite")
        let admin = OperatorCommand(databaseURL: url)
        #expect(try admin.run(["migrate"]).status == 0)
        let made = try admin.run(["users", "invite", "--uses", "2", "--days", "1"])
        #expect(made.status == 0, "\(made.stderr)")
        let code = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(code.count == 17 && made.stderr.contains("--invite \(code)"), "\(made)")
        #expect(try admin.run(["users", "invite", "--uses", "0"]).stderr.contains("--uses must be"))

        let server = try OperatorCommand.Server(admin, ["--registration", "invite"])
        defer { _ = server.stop() }
        let api = try ServerAPI(server: server.url, environment: [:])
        func refusal(_ username: String, _ invite: String?) async throws -> ServerError? {
            do {
                _ = try await api.register(username: username, password: "correct horse", displayName: nil, inviteCode: invite)
                return nil
            } catch let error as ServerError { return error }
        }
        let without = try await refusal("ann", nil)
        #expect(without?.status == 403 && without?.message.contains("invite code") == true, "\(String(describing: without))")
        let wrong = try await refusal("ann", "NoSuchCode1234567")
        #expect(wrong?.status == 403 && wrong?.message.contains("unknown, expired or used up") == true)
        #expect(try await refusal("ann", code) == nil)
        // A name that is taken spends no use of the code.
        #expect(try await refusal("ann", code)?.status == 409)
        #expect(try await refusal("bob", code) == nil)
        #expect(try await refusal("cat", code)?.status == 403)
        // An invitation makes learners only, even of the first account: admins are the operator's to make.
        let rows = try admin.run(["users", "list"]).stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.first { $0.first == "ann" }?.dropFirst().first == "learner", "\(rows)")
    }
}

/// `--log-format json` and request ids: every line parses as JSON, and a request's lines, its response and its error
/// body carry its id.
struct StructuredLogTests {
    @Test func jsonLogLinesCarryTheRequestIDThatTheResponseAndErrorBodyName() async throws {
        let admin = OperatorCommand(databaseURL: try await TestDatabase.freshURL("logs"))
        let server = try OperatorCommand.Server(admin, ["--log-format", "json", "--log-level", "debug"])
        let port = try #require(Int(server.url.split(separator: ":").last ?? ""))
        func get(_ path: String, requestID: String?) throws -> String {
            let connection = try RawConnection(port: port)
            connection.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\(requestID.map { "X-Request-Id: \($0)\r\n" } ?? "")\r\n")
            return connection.readToEnd()
        }
        let refused = try get("/v1/devices", requestID: "ops-42")
        #expect(refused.hasPrefix("HTTP/1.1 401"), "\(refused)")
        #expect(refused.lowercased().contains("x-request-id: ops-42"))
        #expect(refused.contains(#""requestId":"ops-42""#), "\(refused)")
        // One the server makes when the client's is missing or not a sensible one.
        for sent in [nil, String(repeating: "x", count: 65), "a b"] {
            let answer = try get("/v1/meta", requestID: sent.map { $0.replacingOccurrences(of: " ", with: "%") })
            let id = answer.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-request-id: ") }.map { String($0.dropFirst(14)) }
            #expect(id?.count == 16 && id != sent, "\(answer)")
        }
        #expect(server.stop() == 0)
        let lines = server.output.split(separator: "\n")
        let objects = try lines.map { line in try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)") }
        #expect(objects.allSatisfy { $0["time"] is String && $0["level"] is String && $0["label"] is String && $0["message"] is String })
        #expect(objects.contains { ($0["metadata"] as? [String: Any])?["request.id"] as? String == "ops-42" }, "\(server.output)")
    }
}

/// `--metrics-port`: Prometheus text on a listener of its own, whose sync counters move by exactly what was pushed.
struct MetricsTests {
    /// A port no one listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Samples by name and labels (`name{a="b"}`), from Prometheus's text format; every line must be a comment or a sample.
    static func scrape(_ port: Int) throws -> [String: Double] {
        let connection = try RawConnection(port: port)
        connection.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let answer = connection.readToEnd()
        guard answer.hasPrefix("HTTP/1.1 200"), let bodyStart = answer.range(of: "\r\n\r\n") else {
            throw HarnessError.status(.internalServerError, answer)
        }
        var samples: [String: Double] = [:]
        for line in answer[bodyStart.upperBound...].split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw HarnessError.status(.internalServerError, "not a sample: \(line)")
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func syncCountersMoveByExactlyTheAttemptsPushed() async throws {
        let admin = OperatorCommand(databaseURL: try await TestDatabase.freshURL("metrics"))
        let metricsPort = try Self.freePort()
        let server = try OperatorCommand.Server(admin, ["--metrics-port", "\(metricsPort)"])
        defer { _ = server.stop() }
        let apiPort = try #require(Int(server.url.split(separator: ":").last ?? ""))
        // Not on the API's port.
        let onAPI = try RawConnection(port: apiPort)
        onAPI.send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(onAPI.readToEnd().hasPrefix("HTTP/1.1 404"))

        let anonymous = try ServerAPI(server: server.url, environment: [:])
        _ = try await anonymous.register(username: "mia", password: "correct horse", displayName: nil)
        let login = try await anonymous.login(username: "mia", password: "correct horse", deviceID: UUID().uuidString.lowercased(), deviceName: "m")
        await #expect(throws: ServerError.self) {
            _ = try await anonymous.login(username: "mia", password: "wrong password", deviceID: UUID().uuidString.lowercased(), deviceName: "m")
        }
        let mia = try ServerAPI(server: server.url, token: login.token, environment: [:])
        let deck = try SeedFormat.parse(BundledDecks.all()[0].text, name: BundledDecks.all()[0].name)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let answers = (0..<37).map { i in
            let question = deck.questions[i % deck.questions.count]
            return Attempt(
                id: UUID().uuidString.lowercased(), deviceID: login.deviceId, questionID: question.id, questionVersion: question.version,
                chosen: question.correct, correct: true, answeredAt: now - Int64(40 - i) * 60_000, durationMs: 3_000,
                sessionID: UUID().uuidString.lowercased())
        }
        let before = try Self.scrape(metricsPort)
        _ = try await mia.sync(SyncRequest(clientTime: now, cursor: 0, attempts: Array(answers[0..<30])))
        _ = try await mia.sync(SyncRequest(clientTime: now, cursor: 0, attempts: Array(answers[20..<37])))  // 10 again, 7 new
        let after = try Self.scrape(metricsPort)
        func moved(_ name: String) -> Double { (after[name] ?? 0) - (before[name] ?? 0) }
        #expect(moved(#"studysync_attempts_total{outcome="inserted"}"#) == 37)
        #expect(moved(#"studysync_attempts_total{outcome="duplicate"}"#) == 10)
        #expect((after["studysync_login_failures_total"] ?? 0) == 1)
        #expect(moved("studysync_sync_duration_seconds_count") == 2)
        #expect(moved(#"studysync_sync_phase_seconds_count{phase="insert"}"#) == 2)
        #expect((after["studysync_row_lock_wait_seconds_count"] ?? 0) >= 2)
        #expect(after.keys.contains(#"studysync_db_pool_connections_in_use{pool="primary"}"#), "\(after.keys.sorted())")
        #expect(after.keys.contains { $0.hasPrefix("http_server_request_duration_count{") }, "\(after.keys.sorted())")
    }
}
