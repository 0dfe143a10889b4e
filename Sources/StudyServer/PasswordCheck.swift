import HummingbirdBcrypt
import Metrics
import NIOPosix
import StudyStorage

/// A username and password checked the one way both the API's login (`POST /v1/sessions`) and the dashboard's sign-in
/// check them: counted against the login limits before anything is looked up (`LoginThrottle.admit`), verified
/// against a decoy hash when there is no such user (so both failures take the same time), forgiven when right, and
/// refused for a disabled account only after that.
struct PasswordCheck<Repository: UserRepository>: Sendable {
    enum Outcome: Sendable {
        /// Past a limit: the seconds to wait.
        case throttled(seconds: Int)
        case wrong
        case disabled
        case passed(UserRecord)
    }

    let repository: Repository
    let throttle: LoginThrottle
    /// A real bcrypt hash to verify against when the username is unknown.
    let decoyHash: String

    func check(username: String, password: String, address: String?, now: Int64) async throws -> Outcome {
        // A name no account can have (wrong characters, a NUL, too long) is counted against the address only: keyed by
        // itself, "lea\u{0}x" would be a fresh throttle key for the account "lea", and a megabyte name a megabyte key.
        let name = AccountRules.usernameProblem(username) == nil ? username : nil
        if let wait = try await throttle.admit(username: name, address: address, now: now) {
            Counter(label: "studysync_rate_limited_total", dimensions: [("limit", "login")]).increment()
            return .throttled(seconds: wait)
        }
        var user: UserRecord?
        if let name { user = try await repository.user(named: name) }
        // A password with a NUL is never right: bcrypt would read it only up to the NUL.
        let checked = password.utf8.contains(0) ? "" : password
        let hash = user?.passwordHash ?? decoyHash
        let verified = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(checked, hash: hash) } && !checked.isEmpty
        guard let user, verified else {
            Counter(label: "studysync_login_failures_total").increment()
            return .wrong
        }
        try await throttle.forgive(username: user.username, address: address, admittedAt: now)
        return user.disabledAt == nil ? .passed(user) : .disabled
    }
}
