import ArgumentParser
import Foundation
import StudyCore
import StudyServer
import StudyStorage

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the pending database migrations and exit (before starting servers with --no-migrate).")
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        try await operating(database) {
            let applied = try await ServerOperations.migrate(database.configuration, logger: database.logger)
            print(applied.isEmpty ? "The database is current: nothing to apply." : "Applied \(applied.count): \(applied.joined(separator: ", ")).")
        }
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage accounts on the configured database (the server need not run).",
        subcommands: [List.self, Add.self, SetRole.self, Disable.self, Enable.self, ResetPassword.self, Delete.self, Export.self, Invite.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every account.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await operating(database) {
                let users = try await ServerOperations.users(database.configuration, logger: database.logger)
                let formatter = ISO8601DateFormatter()
                func date(_ ms: Int64?) -> String { ms.map { formatter.string(from: Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "-" }
                let rows =
                    [["USERNAME", "ROLE", "STATE", "ANSWERS", "DEVICES", "LAST SYNC", "CREATED"]]
                    + users.map {
                        [
                            $0.user.username, $0.user.role.rawValue, $0.user.disabledAt == nil ? "enabled" : "disabled", String($0.attempts),
                            String($0.devices), date($0.lastSeenAt), date($0.user.createdAt),
                        ]
                    }
                let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
                for row in rows {
                    let line = row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    print(line.replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression))
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account (the way to make accounts when registration is closed).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "3 to 32 characters: lowercase letters, digits, '_', '.', '-'.") var username: String
        @Option(help: "learner, instructor or admin.") var role = "learner"
        @Option(help: "The name others see on leaderboards (default: the username).") var displayName: String?
        @Flag(help: "Read the password from the first line of standard input instead of prompting.") var passwordStdin = false

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("--role must be learner, instructor or admin.") }
        }

        func run() async throws {
            try await operating(database) {
                let password = try readPassword(prompt: "Password for \(username): ", fromStandardInput: passwordStdin)
                let user = try await ServerOperations.addUser(
                    database.configuration, username: username, password: password, displayName: displayName, role: Role(rawValue: role) ?? .learner,
                    logger: database.logger)
                print("Added \(user.username) (\(user.role.rawValue)). They log in with 'study login --server URL --username \(user.username)'.")
            }
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-role", abstract: "Give an account a server role.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The username.") var username: String
        @Argument(help: "learner, instructor or admin.") var role: String

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("ROLE must be learner, instructor or admin.") }
        }

        func run() async throws {
            try await operating(database) {
                let user = try await ServerOperations.setRole(
                    database.configuration, username: username, role: Role(rawValue: role) ?? .learner, logger: database.logger)
                print("\(user.username) is now \(user.role.rawValue).")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop an account from logging in and revoke every token it has, at once.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            try await operating(database) {
                let user = try await ServerOperations.setDisabled(database.configuration, username: username, true, logger: database.logger)
                print("Disabled \(user.username): every device of theirs is logged out, and they cannot log in until 'users enable'.")
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled account log in again.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            try await operating(database) {
                let user = try await ServerOperations.setDisabled(database.configuration, username: username, false, logger: database.logger)
                print("Enabled \(user.username): they can log in again.")
            }
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password", abstract: "Set a new password for an account and log out every device of it.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The username.") var username: String
        @Flag(help: "Read the password from the first line of standard input instead of prompting.") var passwordStdin = false

        func run() async throws {
            try await operating(database) {
                let password = try readPassword(prompt: "New password for \(username): ", fromStandardInput: passwordStdin)
                let user = try await ServerOperations.resetPassword(
                    database.configuration, username: username, password: password, logger: database.logger)
                print("New password set for \(user.username); each of their devices logs in again with it.")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an account and everything that is theirs: answers, progress, devices, memberships, their rows on the boards.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The username.") var username: String
        @Flag(help: "Delete without asking (for scripts).") var yes = false

        func run() async throws {
            try await operating(database) {
                if !yes {
                    print(
                        "Delete \(username) and every answer of theirs? This cannot be undone ('users export' first keeps their answers). Type the username to confirm: ",
                        terminator: "")
                    guard readLine(strippingNewline: true) == username else { throw OperationError("Not confirmed: nothing was deleted.") }
                }
                try await ServerOperations.deleteUser(database.configuration, username: username, logger: database.logger)
                print("Deleted \(username).")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an account's answers to FILE as JSON Lines ('study backup import FILE' reads them).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The username.") var username: String
        @Argument(help: "The file to write (- for standard output).") var file: String

        func run() async throws {
            try await operating(database) {
                let count = try await ServerOperations.exportUser(database.configuration, username: username, to: file, logger: database.logger)
                if file != "-" { print("Exported \(count) answers of \(username) to \(file).") }
            }
        }
    }

    struct Invite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a server invite code, for registration by invitation (--registration invite).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "How many accounts the code may register.") var uses = 1
        @Option(help: "Days until the code expires.") var days = 14

        func run() async throws {
            try await operating(database) {
                let code = try await ServerOperations.createInvite(database.configuration, uses: uses, days: days, logger: database.logger)
                print(code)
                FileHandle.standardError.write(
                    Data(
                        "Registers \(uses) account\(uses == 1 ? "" : "s") within \(days) days: study register --server URL --username NAME --invite \(code)\n"
                            .utf8))
            }
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the whole database to FILE with pg_dump (custom format); the server may keep running.")
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The file to write (it must not exist).") var file: String

    func run() async throws {
        try await operating(database) {
            try await ServerOperations.backup(database.configuration, to: file, logger: database.logger)
            print("Backed up to \(file).")
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a backup FILE into the configured database with pg_restore, in one transaction (stop the servers first).")
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "A file 'study-server backup' wrote.") var file: String
    @Flag(help: "Replace everything in a database that is not empty.") var force = false

    func run() async throws {
        try await operating(database) {
            try await ServerOperations.restore(database.configuration, from: file, force: force, logger: database.logger)
            print("Restored \(file).")
        }
    }
}

/// A password from standard input's first line, or typed at a prompt without echo.
func readPassword(prompt: String, fromStandardInput: Bool) throws -> String {
    if fromStandardInput {
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw OperationError("--password-stdin was given but standard input is empty.")
        }
        return line
    }
    guard let typed = getpass(prompt) else { throw OperationError("Cannot read a password without a terminal: use --password-stdin.") }
    return String(cString: typed)
}
