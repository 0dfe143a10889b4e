import StudyStorage

/// Counts failed logins per username and per client address in a sliding window; past the limit, logins are refused
/// with 429 and a `Retry-After` until the oldest failure leaves the window. With a `shared` log (the server's
/// PostgreSQL) the counts are those of every server on the database, so the limits hold across replicas; without one
/// they are kept in this process. A second instance, with no usernames, counts registrations per address.
///
/// A login is counted as a failure the moment it is let through (`admit`), before its password is checked, and
/// forgiven when it succeeds: twenty logins at once against a limit of five get five checks, not twenty (checking
/// first and recording after let every concurrent one through).
actor LoginThrottle {
    private let perUsername: Int
    private let perAddress: Int
    private let windowMs: Int64
    private var failures: [String: [Int64]] = [:]
    private var admittedSinceSweep = 0
    private let shared: (any LoginFailureLog)?
    /// Keeps the shared log's keys of this throttle apart from another's (logins, registrations).
    private let namespace: String

    init(perUsername: Int, perAddress: Int, windowMs: Int64, shared: (any LoginFailureLog)? = nil, namespace: String = "login") {
        self.perUsername = perUsername
        self.perAddress = perAddress
        self.windowMs = windowMs
        self.shared = shared
        self.namespace = namespace
    }

    /// Lets a login through and counts it as a failure until `forgive` is called; or, past a limit, the seconds to wait.
    /// `username` is nil for a name no account can have (then only the address counts it).
    func admit(username: String?, address: String?, now: Int64) async throws -> Int? {
        sweepIfDue(now: now)
        let keys = (username.map { [("user:" + $0, perUsername)] } ?? []) + (address.map { [("addr:" + $0, perAddress)] } ?? [])
        if let shared {
            let wait = try await shared.admitFailure(keys: keys.map { ("\(namespace):\($0.0)", $0.1) }, windowMs: windowMs, at: now)
            return wait.map { Int(($0 + 999) / 1000) }
        }
        var wait: Int64 = 0
        for (key, limit) in keys {
            let recent = (failures[key] ?? []).filter { $0 > now - windowMs }
            failures[key] = recent.isEmpty ? nil : recent
            if recent.count >= limit { wait = max(wait, recent[recent.count - limit] + windowMs - now) }
        }
        if wait > 0 { return Int((wait + 999) / 1000) }
        for (key, _) in keys { failures[key, default: []].append(now) }
        return nil
    }

    /// The login `admit` let through at `now` succeeded: the username's failures are cleared, and the address no longer
    /// counts this one.
    func forgive(username: String, address: String?, admittedAt now: Int64) async throws {
        if let shared {
            try await shared.forgiveFailure(
                clearing: "\(namespace):user:\(username)", takingBack: address.map { "\(namespace):addr:\($0)" }, at: now)
            return
        }
        failures["user:" + username] = nil
        if let address, var times = failures["addr:" + address], let index = times.lastIndex(of: now) {
            times.remove(at: index)
            failures["addr:" + address] = times.isEmpty ? nil : times
        }
    }

    /// How many usernames and addresses are being counted (for tests: the table does not grow without bound).
    var trackedKeys: Int { failures.count }

    /// Drops the keys whose failures have all left the window, every few hundred logins: without it, a key tried once
    /// would be kept for good.
    private func sweepIfDue(now: Int64) {
        admittedSinceSweep += 1
        guard admittedSinceSweep >= 256 || failures.count > 100_000 else { return }
        admittedSinceSweep = 0
        failures = failures.filter { $0.value.last.map { $0 > now - windowMs } ?? false }
        // The shared log's rows of this throttle that left its window, under every key: in the background, as nothing
        // waits for them (each throttle has its own window: 15 minutes for logins, an hour for registrations).
        if let shared {
            let before = now - windowMs
            let namespace = namespace
            Task { try? await shared.sweepFailures(namespace: namespace, before: before) }
        }
    }
}
