/// One answer to one question: an immutable fact. Its JSON form is the wire shape, used by sync and by backups alike.
public struct Attempt: Sendable, Hashable, Codable {
    /// Client-made UUID, lowercase.
    public let id: String
    public let deviceID: String
    public let questionID: String
    public let questionVersion: String
    /// Canonical option indexes, ascending.
    public let chosen: [Int]
    public let correct: Bool
    /// Epoch milliseconds on the answering device's hybrid logical clock.
    public let answeredAt: Int64
    public let durationMs: Int64
    public let sessionID: String

    public init(
        id: String, deviceID: String, questionID: String, questionVersion: String, chosen: [Int], correct: Bool,
        answeredAt: Int64, durationMs: Int64, sessionID: String
    ) {
        self.id = id
        self.deviceID = deviceID
        self.questionID = questionID
        self.questionVersion = questionVersion
        self.chosen = zip(chosen, chosen.dropFirst()).allSatisfy { $0 < $1 } ? chosen : Array(Set(chosen)).sorted()
        self.correct = correct
        self.answeredAt = answeredAt
        self.durationMs = durationMs
        self.sessionID = sessionID
    }

    enum CodingKeys: String, CodingKey {
        case id, deviceID = "deviceId", questionID = "questionId", questionVersion, chosen, correct, answeredAt, durationMs
        case sessionID = "sessionId"
    }

    /// The total order progress is folded in: by time, then by id so equal stamps still have one order everywhere.
    public static func foldOrder(_ a: Attempt, _ b: Attempt) -> Bool {
        a.answeredAt != b.answeredAt ? a.answeredAt < b.answeredAt : a.id < b.id
    }

    /// Whether the attempts are in fold order already (pages nearly always are), read in place.
    public static func areInFoldOrder(_ attempts: [Attempt]) -> Bool { areInFoldOrder(attempts, at: attempts.indices) }

    /// Whether the attempts at `indices`, taken in that order, are in fold order.
    public static func areInFoldOrder(_ attempts: [Attempt], at indices: some RandomAccessCollection<Int>) -> Bool {
        for (previous, next) in zip(indices, indices.dropFirst()) {
            let (before, after) = (attempts[previous].answeredAt, attempts[next].answeredAt)
            if before != after {
                guard before < after else { return false }
            } else if attempts[next].id < attempts[previous].id {
                return false
            }
        }
        return true
    }

    /// Problems that make an attempt unusable, each a sentence; empty when it is well formed.
    public var problems: [String] { check().problems }

    /// The problems, and whether every id is already in lower case (as PostgreSQL spells UUIDs), each id read once:
    /// a server checks every pushed attempt.
    public func check() -> (problems: [String], lowercaseIDs: Bool) {
        let forms = (Attempt.uuidForm(id), Attempt.uuidForm(deviceID), Attempt.uuidForm(sessionID))
        let lowercase = forms.0 != .mixedCase && forms.1 != .mixedCase && forms.2 != .mixedCase
        var found: [String] = []  // allocates only when a problem is found
        if forms.0 == .invalid { found.append("id must be a UUID") }
        if forms.1 == .invalid { found.append("deviceId must be a UUID") }
        if !Attempt.isIdentifier(questionID) || !Attempt.isIdentifier(questionVersion) {
            found.append("questionId and questionVersion must be 1 to \(Attempt.maxIdentifierLength) letters, digits, '-' or '_'")
        }
        if chosen.isEmpty || chosen.contains(where: { $0 < 0 || $0 > 9 }) { found.append("chosen must list option indexes from 0 to 9") }
        if !(0...AttemptRules.latestTime).contains(answeredAt) {
            found.append("answeredAt must be epoch milliseconds from 0 to \(AttemptRules.latestTime)")
        }
        if !(0...AttemptRules.maxDurationMs).contains(durationMs) {
            found.append("durationMs must be from 0 to \(AttemptRules.maxDurationMs) (a day)")
        }
        if forms.2 == .invalid { found.append("sessionId must be a UUID") }
        return (found, lowercase)
    }

    /// The longest question, version or deck id accepted (the ids this project makes are 13 to 17 characters).
    public static let maxIdentifierLength = 64

    /// 1 to `maxIdentifierLength` ASCII letters, digits, '-' or '_': the form of question, version and deck ids.
    public static func isIdentifier(_ s: String) -> Bool {
        let utf8 = s.utf8
        guard (1...maxIdentifierLength).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "-"), UInt8(ascii: "_"):
                true
            default: false
            }
        }
    }

    enum UUIDForm { case lowercase, mixedCase, invalid }

    /// The 8-4-4-4-12 hexadecimal form, either case. Checked on the UTF-8 bytes: every pushed attempt passes here three times.
    public static func isUUID(_ s: String) -> Bool { uuidForm(s) != .invalid }

    static func uuidForm(_ s: String) -> UUIDForm {
        var s = s
        return s.withUTF8(uuidForm(bytes:))
    }

    /// Each byte's class: 1 a lower-case hex digit (or a digit), 2 an upper-case one, 0 anything else.
    private static let hexClass: [UInt8] = (0...255).map { byte in
        switch UInt8(byte) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): 1
        case UInt8(ascii: "A")...UInt8(ascii: "F"): 2
        default: 0
        }
    }

    private static func uuidForm(bytes: UnsafeBufferPointer<UInt8>) -> UUIDForm {
        guard bytes.count == 36, bytes[8] == UInt8(ascii: "-"), bytes[13] == UInt8(ascii: "-"), bytes[18] == UInt8(ascii: "-"),
            bytes[23] == UInt8(ascii: "-")
        else { return .invalid }
        var seen: UInt8 = 0
        var valid = true
        hexClass.withUnsafeBufferPointer { table in
            for i in 0..<36 where i != 8 && i != 13 && i != 18 && i != 23 {
                let kind = table[Int(bytes[i])]
                valid = valid && kind != 0
                seen |= kind
            }
        }
        return !valid ? .invalid : seen & 2 == 0 ? .lowercase : .mixedCase
    }
}

/// Stamps answers so a device's times never run backwards and never fall behind the newest attempt it has seen, even when
/// its wall clock is wrong or is set back (a hybrid logical clock in epoch milliseconds).
public struct HybridClock: Sendable {
    public private(set) var last: Int64

    /// `last` beyond `AttemptRules.latestTime` (a store written before times were bounded) is taken as that time.
    public init(last: Int64) { self.last = min(last, AttemptRules.latestTime) }

    public mutating func stamp(wallClock: Int64) -> Int64 {
        last = max(wallClock, last + 1)
        return last
    }
}

/// A study session: the answers given in one sitting on one deck belong to it.
public struct StudySession: Sendable, Codable, Hashable {
    public var id: String
    public var deckId: String
    public var startedAt: Int64

    public init(id: String, deckId: String, startedAt: Int64) {
        self.id = id
        self.deckId = deckId
        self.startedAt = startedAt
    }
}
