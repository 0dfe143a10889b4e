/// The ranges an attempt's values must lie in, and the clock rule (ARCHITECTURE.md, invariants 7 and 9; PROTOCOL.md,
/// "Bounds" and "Time"): one place for each, used by the server's checks, the wire contract and the CLI.
public enum AttemptRules {
    /// Clock offsets beyond this are reported to the client, and stamps further than this in the server's future are
    /// `ahead`.
    public static let clockTolerance: Int64 = 5 * 60_000
    /// The latest time a client may name (`clientTime`, `answeredAt`, `startedAt`): 9999-12-31T23:59:59.999Z. With every
    /// time in 0...latestTime, differences and sums of times cannot overflow 64 bits.
    public static let latestTime: Int64 = 253_402_300_799_999
    /// The longest an answer may take: a day. Longer is a broken clock or a forged value, and would overflow running sums.
    public static let maxDurationMs: Int64 = 86_400_000

    /// Whether a clock `offsetMs` away from the server's is off: then the client is warned, and the attempts it sends
    /// with that clock are flagged `clockSkew`.
    public static func isClockOff(offsetMs: Int64) -> Bool { offsetMs.magnitude > clockTolerance.magnitude }
}

/// The server's judgement of pushed attempts (invariants 7 and 8): pure, so it is tested without a server.
public enum AttemptReview {
    /// A person needs at least this long to read a question and choose.
    public static let minimumDurationMs: Int64 = 1_000
    /// Answers from one device closer together than this are a burst.
    public static let burstGapMs: Int64 = 1_000

    /// Flags for each attempt, in order. `questions` maps `questionId + "/" + version` to the versions the server knows.
    public static func flags(for attempts: [Attempt], questions: [String: Question], serverTime: Int64) -> [AttemptFlags] {
        // Looked up by id, then version: no key string is made per attempt.
        var byID: [String: [String: Question]] = [:]
        for question in questions.values { byID[question.id, default: [:]][question.version] = question }
        var flags = [AttemptFlags](repeating: [], count: attempts.count)
        // A page is normally in fold order already (clients send it so); then it is not sorted again.
        let order =
            Attempt.areInFoldOrder(attempts) ? Array(attempts.indices) : attempts.indices.sorted { Attempt.foldOrder(attempts[$0], attempts[$1]) }
        // The last answer time per device, with the device of the attempt before kept out of the dictionary.
        var lastByDevice: [String: Int64] = [:]
        var current: (device: String, last: Int64)?
        for index in order {
            let attempt = attempts[index]
            if let question = byID[attempt.questionID]?[attempt.questionVersion] {
                if question.grade(attempt.chosen) != attempt.correct || attempt.chosen.contains(where: { $0 >= question.options.count }) {
                    flags[index].insert(.gradeMismatch)
                }
            } else {
                flags[index].insert(.unknownQuestion)
            }
            if attempt.durationMs < minimumDurationMs { flags[index].insert(.tooFast) }
            if current?.device != attempt.deviceID {
                if let current { lastByDevice[current.device] = current.last }
                current = lastByDevice[attempt.deviceID].map { (attempt.deviceID, $0) }
            }
            if let current, attempt.answeredAt - current.last < burstGapMs { flags[index].insert(.burst) }
            current = (attempt.deviceID, attempt.answeredAt)
            if attempt.answeredAt > serverTime + AttemptRules.clockTolerance { flags[index].formUnion([.clockSkew, .ahead]) }
        }
        return flags
    }

    /// The distinct `key`s of the attempts' question versions, of those ids that have the form of one (the others are
    /// rejected with their attempt, and never looked up).
    public static func questionKeys(of attempts: [Attempt]) -> Set<String> {
        var versions: [String: Set<String>] = [:]
        for attempt in attempts where Attempt.isIdentifier(attempt.questionID) && Attempt.isIdentifier(attempt.questionVersion) {
            versions[attempt.questionID, default: []].insert(attempt.questionVersion)
        }
        return Set(versions.flatMap { id, versions in versions.map { key(id, $0) } })
    }

    public static func key(_ questionID: String, _ version: String) -> String { questionID + "/" + version }

    /// A sentence for a learner whose clock is `offsetMs` behind (positive) or ahead (negative) of the server, or nil.
    public static func clockWarning(offsetMs: Int64) -> String? {
        guard AttemptRules.isClockOff(offsetMs: offsetMs) else { return nil }
        let minutes = abs(offsetMs) / 60_000
        let amount = minutes >= 120 ? "\(minutes / 60) hours" : "\(minutes) minutes"
        return
            "This computer's clock is \(amount) \(offsetMs > 0 ? "behind" : "ahead of") the server's; answers are stamped with the corrected time. Set the clock right to silence this warning."
    }
}

/// Why the server set an attempt aside from leaderboards (invariant 8). It stays in the log and in the learner's progress.
public struct AttemptFlags: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The client's `correct` disagrees with the server's grading of the choice.
    public static let gradeMismatch = AttemptFlags(rawValue: 1 << 0)
    /// Answered faster than a person can read the question.
    public static let tooFast = AttemptFlags(rawValue: 1 << 1)
    /// Part of a burst of answers too close together to be human.
    public static let burst = AttemptFlags(rawValue: 1 << 2)
    /// Stamped by a device whose clock was found to be off.
    public static let clockSkew = AttemptFlags(rawValue: 1 << 3)
    /// Names a question or version the server does not know.
    public static let unknownQuestion = AttemptFlags(rawValue: 1 << 4)
    /// Stamped more than `AttemptRules.clockTolerance` ahead of the server's clock when it arrived (PROTOCOL.md, "Time").
    /// It stays in the log, but counts in no one's progress and moves no device's clock: one wrong clock must not carry
    /// an account into the future for good. Always set with `clockSkew`.
    public static let ahead = AttemptFlags(rawValue: 1 << 5)

    /// Each flag with the name logs and metrics give it.
    public static let names: [(AttemptFlags, String)] = [
        (.gradeMismatch, "grade_mismatch"), (.tooFast, "too_fast"), (.burst, "burst"), (.clockSkew, "clock_skew"),
        (.unknownQuestion, "unknown_question"), (.ahead, "ahead"),
    ]
}
