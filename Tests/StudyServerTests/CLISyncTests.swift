import Foundation
import Hummingbird
import HummingbirdTesting
import StudyAPI
import StudyClient
import StudyCore
import StudyServer
import Testing

/// One study home on one "machine": its own data and config directories, driven through the real `study` binary.
struct Home {
    let data = TemporaryDirectory()
    let config = TemporaryDirectory()
    var now: Int64

    static var executable: URL {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent()]
        where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("study").path) {
            return candidate.appendingPathComponent("study")
        }
        return products.appendingPathComponent("study")
    }

    /// Runs `study` on a thread of its own: waiting for it must not block Swift's cooperative threads, which serve the
    /// in-process server the command talks to.
    @discardableResult
    func run(_ arguments: [String], input: String = "") async throws -> (status: Int32, out: String, err: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try runBlocking(arguments, input: input) }) }.start()
        }
    }

    private func runBlocking(_ arguments: [String], input: String) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["STUDY_HOME"] = data.url.path
        environment["XDG_CONFIG_HOME"] = config.url.path
        environment["STUDY_NOW"] = String(now)
        environment["NO_COLOR"] = "1"
        environment["TZ"] = "UTC"
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        (process.standardInput, process.standardOutput, process.standardError) = (stdin, stdout, stderr)
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile(), err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}

/// "pushed N" plus "M already there" from a `study sync` summary line.
func pushedOrPresent(_ line: String) -> Int {
    func number(before word: String) -> Int {
        guard let range = line.range(of: word) else { return 0 }
        return Int(line[..<range.lowerBound].split(separator: " ").last ?? "") ?? 0
    }
    func number(after word: String) -> Int {
        guard let range = line.range(of: word) else { return 0 }
        return Int(line[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }
    return number(after: "pushed ") + number(before: " already there")
}

@Suite(.serialized) struct CLISyncTests {
    /// Two and three homes of one user study offline with piped answers, then sync in different orders through the
    /// real server over HTTP: every home ends with the same `study progress --json`.
    @Test(arguments: [[0, 1], [1, 0], [0, 1, 2], [2, 0, 1]])
    func homesThatStudyOfflineAndSyncShowIdenticalProgress(order: [Int]) async throws {
        let app = try await buildApplication(try await testConfiguration(), onServerRunning: { _ in })
        try await app.test(.live) { client in
            let server = "http://127.0.0.1:\(client.port!)"
            let start = Int64(Date().timeIntervalSince1970 * 1000) - 3_600_000
            let homes = (0..<order.count).map { Home(now: start + Int64($0) * 60_000) }
            let user = "cli\(order.map(String.init).joined())"
            let registered = try await homes[0].run(
                ["register", "--server", server, "--username", user, "--password-stdin"], input: "pass phrase 1\n")
            #expect(registered.status == 0, "REGERR \(registered.err)")
            for home in homes.dropFirst() {
                let login = try await home.run(["login", "--server", server, "--username", user, "--password-stdin"], input: "pass phrase 1\n")
                #expect(login.status == 0, "LOGINERR \(login.err)")
            }
            for (i, home) in homes.enumerated() {
                let quiz = try await home.run(
                    ["--count", "\(4 + i)", "--seed", "\(i + 11)", "--mode", "all"], input: String(repeating: "a\nb\n", count: 5))
                #expect(quiz.out.contains("You answered \(4 + i),"))
            }
            for i in order {
                let sync = try await homes[i].run(["sync"])
                #expect(sync.status == 0, "SYNCERR \(sync.err)")
                // A request answered too late for a busy test machine is retried and reported as "already there".
                #expect(sync.out.hasPrefix("Synced with \(server): pushed "))
                #expect(pushedOrPresent(sync.out) == 4 + i, "\(sync.out)")
            }
            for i in order.dropLast() { #expect(try await homes[i].run(["sync"]).status == 0) }
            let total = (0..<order.count).reduce(0) { $0 + 4 + $1 }
            var reference: String?
            for var home in homes {
                home.now = start + 7_200_000
                let progress = try await home.run(["progress", "--json", "--questions"])
                #expect(progress.status == 0)
                #expect(progress.out.contains("\"attempts\" : \(total),"))
                if let reference { #expect(progress.out == reference) } else { reference = progress.out }
                let status = try await home.run(["status", "--json"]).out
                #expect(status.contains("\"pendingAttempts\" : 0"))
            }
        }
    }

    /// `study sync` remembers the server's meta for a day; when the server refuses a request as it would if it had
    /// changed since (here: a body limit lower than the remembered one), study reads the meta again and syncs once more.
    @Test func aServerThatChangedSinceTheLastSyncIsAskedAgain() async throws {
        var configuration = try await testConfiguration()
        configuration.maxBodyBytes = 64 * 1024
        let app = try await buildApplication(configuration, onServerRunning: { _ in })
        try await app.test(.live) { client in
            let server = "http://127.0.0.1:\(client.port!)"
            let home = Home(now: 1_780_000_000_000)
            #expect(
                try await home.run(["register", "--server", server, "--username", "changes", "--password-stdin"], input: "pass phrase 1\n").status
                    == 0)
            #expect(try await home.run(["sync"]).status == 0)
            // What the last sync read, but with the limits of a server before it was reconfigured.
            let store = try LocalStore(directory: home.data.url)
            let read = try #require(try store.rememberedServerMeta(for: server, now: home.now))
            #expect(read.maxBodyBytes == 64 * 1024)
            let roomier = MetaResponse(
                protocolVersion: read.protocolVersion, serverTime: read.serverTime, maxPushPage: read.maxPushPage, maxPullPage: read.maxPullPage,
                maxBodyBytes: 16 << 20, clockToleranceMs: read.clockToleranceMs, registration: read.registration,
                contentEncodings: read.contentEncodings, pageForms: read.pageForms)
            try store.rememberServerMeta(roomier, for: server, now: home.now)
            // 3,000 answers from another device: their ids travel whole, so a page of 5,000 is far over 64 KiB.
            let device = UUID().uuidString.lowercased(), deck = try store.requireDeck("ml-deployment")
            let lines = try (0..<3_000).map { i -> String in
                let question = deck.questions[i % deck.questions.count]
                let attempt = Attempt(
                    id: UUID().uuidString.lowercased(), deviceID: device, questionID: question.id, questionVersion: question.version,
                    chosen: question.correct, correct: true, answeredAt: home.now - 86_400_000 + Int64(i) * 1_000, durationMs: 4_000,
                    sessionID: device)
                return String(decoding: try JSONEncoder().encode(attempt), as: UTF8.self)
            }
            let file = home.data.url.appendingPathComponent("answers.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            #expect(try await home.run(["backup", "import", file.path]).status == 0)
            let sync = try await home.run(["sync"])
            #expect(sync.status == 0, "\(sync.err)")
            #expect(try await home.run(["status", "--json"]).out.contains("\"pendingAttempts\" : 0"))
            #expect(try store.rememberedServerMeta(for: server, now: home.now)?.maxBodyBytes == 64 * 1024)
        }
    }

    /// A revoked home keeps its unsynced answers and is told how to take them to a new home.
    @Test func aRevokedHomeIsToldToExportItsPendingAnswers() async throws {
        let app = try await buildApplication(try await testConfiguration(), onServerRunning: { _ in })
        try await app.test(.live) { client in
            let server = "http://127.0.0.1:\(client.port!)"
            let (laptop, desktop) = (Home(now: 1_780_000_000_000), Home(now: 1_780_000_000_000))
            #expect(
                try await laptop.run(["register", "--server", server, "--username", "revoked", "--password-stdin"], input: "pass phrase 1\n").status
                    == 0)
            #expect(
                try await desktop.run(["login", "--server", server, "--username", "revoked", "--password-stdin"], input: "pass phrase 1\n").status
                    == 0)
            let devices = try await desktop.run(["devices", "--json"]).out
            let laptopID = try #require(
                (try JSONSerialization.jsonObject(with: Data(devices.utf8)) as? [[String: Any]])?.first { $0["current"] as? Bool == false }?["id"]
                    as? String)
            #expect(try await desktop.run(["devices", "revoke", laptopID]).status == 0)
            try await laptop.run(["--count", "2", "--seed", "5"], input: "a\nb\n")
            let sync = try await laptop.run(["sync"])
            #expect(sync.status != 0)
            #expect(sync.err.contains("Your 2 answers waiting to sync are safe here: save them with 'study backup export FILE'"), "\(sync.err)")
            #expect(try await laptop.run(["status", "--json"]).out.contains("\"pendingAttempts\" : 2"))
        }
    }

    @Test func syncingWithoutALoginOrAgainstADeadServerSaysWhatToDo() async throws {
        let home = Home(now: 1_780_000_000_000)
        let anonymous = try await home.run(["sync"])
        #expect(anonymous.status != 0)
        #expect(anonymous.err.contains("not logged in: run 'study login --server URL --username NAME'"))
        let unreachable = try await home.run(["login", "--server", "http://127.0.0.1:9", "--username", "x", "--password-stdin"], input: "whatever\n")
        #expect(unreachable.status != 0)
        #expect(unreachable.err.contains("cannot reach the server at http://127.0.0.1:9"))
    }
}
