import StudyAPI
import StudyCore
import StudyStorage

extension PushResult {
    /// The result of `outcome`; `flags` are those the server gave the attempt in this request (they decide `ahead` for an
    /// inserted one; a duplicate's are the stored ones, which the outcome carries).
    init(id: String, outcome: PushOutcome, flags: AttemptFlags = []) {
        switch outcome {
        case .inserted(let seq): self.init(id: id, status: .inserted, seq: seq, ahead: flags.contains(.ahead))
        case .duplicate(let seq, let ahead): self.init(id: id, status: .duplicate, seq: seq, ahead: ahead)
        case .conflict: self.init(id: id, status: .conflict)
        case .rejected(let reason): self.init(id: id, status: .rejected, reason: reason)
        }
    }
}

extension PulledAttempt {
    init(_ stored: StoredAttempt) {
        self.init(seq: stored.seq, attempt: stored.attempt, flags: stored.flags.rawValue)
    }
}
