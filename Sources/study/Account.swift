import ArgumentParser
import Foundation
import StudyClient
import StudyCore

#if canImport(Glibc)
    import Glibc
#endif

/// How a command gets the password: a prompt without echo, or one line of standard input.
struct PasswordOptions: ParsableArguments {
    @Flag(help: "Read the password from the first line of standard input instead of prompting.") var passwordStdin = false

    func read(prompt: String) throws -> String {
        if passwordStdin {
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw CLIError("--password-stdin was given but standard input is empty.")
            }
            return line
        }
        guard let typed = getpass(prompt) else { throw CLIError("Cannot read a password without a terminal: use --password-stdin.") }
        return String(cString: typed)
    }
}

struct Register: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create an account on a server and log this study home in.")
    @OptionGroup var options: HomeOptions
    @Option(help: "The server, like http://localhost:8080.") var server: String
    @Option(help: "3 to 32 characters: lowercase letters, digits, '_', '.', '-'.") var username: String
    @Option(help: "The name others see on leaderboards (default: the username).") var displayName: String?
    @OptionGroup var password: PasswordOptions

    func run() async throws {
        let secret = try password.read(prompt: "New password for \(username): ")
        let api = try ServerAPI(server: server)
        let user = try await api.register(username: username, password: secret, displayName: displayName)
        Terminal.say(
            "Registered \(username) on \(server)"
                + (user.role == "admin" ? " as its admin (the first account): 'study role NAME instructor' makes instructors." : "."))
        try await logIn(api: api, server: server, username: username, password: secret, home: options)
    }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log this study home in to a server, as a device of your account.")
    @OptionGroup var options: HomeOptions
    @Option(help: "The server, like http://localhost:8080.") var server: String
    @Option(help: "Your username.") var username: String
    @OptionGroup var password: PasswordOptions

    func run() async throws {
        let secret = try password.read(prompt: "Password for \(username): ")
        try await logIn(api: try ServerAPI(server: server), server: server, username: username, password: secret, home: options)
    }
}

/// Logs in with this home's device id, saves the token (mode 0600), and starts the sync state afresh for a new account.
private func logIn(api: ServerAPI, server: String, username: String, password: String, home: HomeOptions) async throws {
    let store = try home.openStore()
    let previous = try Credentials.load(for: store.directory)
    let login = try await api.login(username: username, password: password, deviceID: store.deviceID, deviceName: ProcessInfo.processInfo.hostName)
    if previous?.username != username || previous?.server != server { try store.resetSyncState() }
    try Credentials(server: server, username: username, deviceID: login.deviceId, token: login.token).save(for: store.directory)
    Terminal.say("Logged in as \(username) on \(server). Run 'study sync' to sync.")
}

/// This home's store, its saved login, and the server API with its token; or an error that says how to log in.
func loggedIn(_ options: HomeOptions) throws -> (store: LocalStore, credentials: Credentials, api: ServerAPI) {
    let store = try options.openStore()
    guard let credentials = try Credentials.load(for: store.directory) else {
        throw CLIError("This study home is not logged in: run 'study login --server URL --username NAME' (or 'study register' for a new account).")
    }
    return (store, credentials, try ServerAPI(server: credentials.server, token: credentials.token))
}

struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Revoke this home's token on the server and forget it here.")
    @OptionGroup var options: HomeOptions

    func run() async throws {
        let (store, credentials, api) = try loggedIn(options)
        do {
            try await api.logout()
        } catch let error as ServerError where error.status == 401 {
            // Already revoked on the server: forgetting it here is all that is left.
        }
        try Credentials.delete(for: store.directory)
        Terminal.say("Logged out of \(credentials.server). Your answers stay in this home.")
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Push this home's new answers and pull those from your other devices.")
    @OptionGroup var options: HomeOptions

    func run() async throws {
        let (store, credentials, api) = try loggedIn(options)
        let engine = SyncEngine(store: store, transport: api)
        let summary: SyncEngine.Summary
        do {
            summary = try await engine.run { done, total in
                guard Terminal.interactive, total > 2_000 else { return }
                print("\r  \(Terminal.bar(done, of: total, width: 30)) \(done)/\(total)", terminator: "")
                fflush(nil)
            }
        } catch let error as ServerError where error.status == 401 {
            let pending = (try? store.pendingCount()) ?? 0
            var message = "The server no longer accepts this home's token (logged out, expired, or this device was revoked)."
            if pending > 0 {
                message += " Your \(pending) answers waiting to sync are safe here: save them with 'study backup export FILE'."
                message +=
                    " Then run 'study login' again; if this device was revoked, log in from a new study home and 'study backup import FILE' there."
            } else {
                message += " Run 'study login' again; if this device was revoked, log in from a new study home."
            }
            throw CLIError(message)
        }
        if Terminal.interactive && summary.requests > 1 { Terminal.say() }
        var line = "Synced with \(credentials.server): pushed \(summary.pushed), pulled \(summary.pulled)"
        if summary.duplicates > 0 { line += ", \(summary.duplicates) already there" }
        if summary.conflicts > 0 { line += ", \(summary.conflicts) conflicts (kept here; the server has different attempts under those ids)" }
        if summary.rejected > 0 { line += ", \(summary.rejected) refused by the server ('study status' says why)" }
        Terminal.say(line + ".")
        if let warning = summary.clockWarning { Terminal.say("Warning: " + warning) }
        do {
            for name in try await store.receivePublishedDecks(from: api) {
                Terminal.say("New deck from your team: '\(name)' ('study quiz --deck \"\(name)\"').")
            }
        } catch {
            // The answers are synced; only the decks did not come. The next sync tries again.
            Terminal.say("Warning: your teams' decks could not be fetched (\(error)); the next 'study sync' tries again.", toError: true)
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the login, pending answers, the last sync and any clock warning.")
    @OptionGroup var options: HomeOptions
    @Flag(help: "Print JSON.") var json = false

    struct Output: Encodable {
        let server: String?
        let username: String?
        let deviceId: String
        let pendingAttempts: Int
        let conflicts: Int
        let rejected: Int
        let lastSyncAt: Int64?
        let clockOffsetMs: Int64
        let clockWarning: String?
    }

    func run() async throws {
        let store = try options.openStoreForReading()
        let credentials = try Credentials.load(for: store.directory)
        let problems = try store.unsyncable()
        let output = Output(
            server: credentials?.server, username: credentials?.username, deviceId: store.deviceID, pendingAttempts: try store.pendingCount(),
            conflicts: problems.conflicts, rejected: problems.rejected, lastSyncAt: store.lastSyncAt, clockOffsetMs: store.clockOffsetMs,
            clockWarning: store.clockWarning)
        if json {
            Terminal.say(Terminal.json(output))
            return
        }
        Terminal.say(
            credentials.map { "Logged in as \($0.username) on \($0.server)." } ?? "Not logged in: answers stay on this computer until 'study login'.")
        Terminal.say("Answers waiting to sync: \(output.pendingAttempts).")
        Terminal.say("Last sync: \(output.lastSyncAt.map { Terminal.time($0) } ?? "never").")
        if output.conflicts + output.rejected > 0 {
            Terminal.say("Not synced: \(output.conflicts) conflicting and \(output.rejected) refused answers (kept here).")
        }
        if let warning = output.clockWarning { Terminal.say("Warning: " + warning) }
    }
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List your account's devices, or revoke one.", subcommands: [List.self, Revoke.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your devices.")
        @OptionGroup var options: HomeOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let devices = try await loggedIn(options).api.devices()
            if json {
                struct Row: Encodable { let id: String; let name: String; let lastSeenAt: Int64?; let revoked: Bool; let current: Bool }
                Terminal.say(
                    Terminal.json(
                        devices.map { Row(id: $0.id, name: $0.name, lastSeenAt: $0.lastSeenAt, revoked: $0.revokedAt != nil, current: $0.current) }))
                return
            }
            Terminal.say(
                Terminal.table(
                    ["Id", "Name", "Last sync", "State"],
                    devices.map {
                        [$0.id, $0.name, Terminal.time($0.lastSeenAt), $0.revokedAt != nil ? "revoked" : $0.current ? "this home" : "active"]
                    }))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a device: its token stops working at once.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The device's id, from 'study devices'.") var id: String

        func run() async throws {
            try await loggedIn(options).api.revokeDevice(id)
            Terminal.say("Revoked device \(id).")
        }
    }
}
