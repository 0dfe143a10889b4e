/// Counts failed logins per username and per client address in a sliding window; past the limit, logins are refused
/// with 429 and a `Retry-After` until the oldest failure leaves the window. Kept per server process.
actor LoginThrottle {
    private let perUsername: Int
    private let perAddress: Int
    private let windowMs: Int64
    private var failures: [String: [Int64]] = [:]

    init(perUsername: Int, perAddress: Int, windowMs: Int64) {
        self.perUsername = perUsername
        self.perAddress = perAddress
        self.windowMs = windowMs
    }

    /// Seconds to wait before trying again, or nil when a login may be attempted now.
    func retryAfter(username: String, address: String?, now: Int64) -> Int? {
        let keys = [("user:" + username, perUsername)] + (address.map { [("addr:" + $0, perAddress)] } ?? [])
        var wait: Int64 = 0
        for (key, limit) in keys {
            let recent = (failures[key] ?? []).filter { $0 > now - windowMs }
            failures[key] = recent
            if recent.count >= limit { wait = max(wait, recent[recent.count - limit] + windowMs - now) }
        }
        return wait > 0 ? Int((wait + 999) / 1000) : nil
    }

    func recordFailure(username: String, address: String?, now: Int64) {
        failures["user:" + username, default: []].append(now)
        if let address { failures["addr:" + address, default: []].append(now) }
    }

    func recordSuccess(username: String) {
        failures["user:" + username] = nil
    }
}
