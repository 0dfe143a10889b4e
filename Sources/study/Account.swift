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
    @Option(help: "The server, like https://study.example.org or http://localhost:8080.") var server: String
    @Option(help: "3 to 32 characters: lowercase letters, digits, '_', '.', '-'.") var username: String
    @Option(help: "The name others see on leaderboards (default: the username).") var displayName: String?
    @Option(help: "A server invite code from its administrator (for a server whose registration is by invitation).") var invite: String?
    @OptionGroup var password: PasswordOptions
    @OptionGroup var tls: TLSOptions

    func run() async throws {
        let secret = try password.read(prompt: "New password for \(username): ")
        let api = try ServerAPI(server: server, caFile: tls.caFilePath)
        let user = try await api.register(username: username, password: secret, displayName: displayName, inviteCode: invite)
        Terminal.say(
            "Registered \(username) on \(server)"
                + (user.role == "admin" ? " as its admin (the first account): 'study role NAME instructor' makes instructors." : "."))
        try await logIn(api: api, server: server, username: username, password: secret, caFile: tls.caFilePath, home: options)
    }
}

/// For a server whose certificate a private CA signed.
struct TLSOptions: ParsableArguments {
    @Option(
        name: .customLong("ca-file"),
        help:
            "A PEM file with the CA certificate that signed the server's, trusted besides the system's; kept for later syncs (default: SSL_CERT_FILE)."
    )
    var caFile: String?

    /// The file as an absolute path, so that later commands find it from any directory.
    var caFilePath: String? { caFile.map { URL(fileURLWithPath: $0).standardizedFileURL.path } }
}

struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log this study home in to a server, as a device of your account.")
    @OptionGroup var options: HomeOptions
    @Option(help: "The server, like https://study.example.org or http://localhost:8080.") var server: String
    @Option(help: "Your username.") var username: String
    @OptionGroup var password: PasswordOptions
    @OptionGroup var tls: TLSOptions

    func run() async throws {
        let secret = try password.read(prompt: "Password for \(username): ")
        try await logIn(
            api: try ServerAPI(server: server, caFile: tls.caFilePath), server: server, username: username, password: secret, caFile: tls.caFilePath,
            home: options)
    }
}

/// Logs in with this home's device id, saves the token (mode 0600), and starts the sync state afresh for a new account.
private func logIn(api: ServerAPI, server: String, username: String, password: String, caFile: String?, home: HomeOptions) async throws {
    let store = try home.openStore()
    let previous = try Credentials.load(for: store.directory)
    let login = try await api.login(username: username, password: password, deviceID: store.deviceID, deviceName: ProcessInfo.processInfo.hostName)
    if previous?.username != username || previous?.server != server { try store.resetSyncState() }
    try Credentials(server: server, username: username, deviceID: login.deviceId, token: login.token, caFile: caFile).save(for: store.directory)
    Terminal.say("Logged in as \(username) on \(server). Run 'study sync' to sync.")
}

/// This home's store, its saved login, and the server API with its token; or an error that says how to log in.
func loggedIn(_ options: HomeOptions) throws -> (store: LocalStore, credentials: Credentials, api: ServerAPI) {
    let store = try options.openStore()
    guard let credentials = try Credentials.load(for: store.directory) else {
        throw CLIError("This study home is not logged in: run 'study login --server URL --username NAME' (or 'study register' for a new account).")
    }
    return (store, credentials, try ServerAPI(server: credentials.server, token: credentials.token, caFile: credentials.caFile))
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
