import LibPQ
import StudyCore

/// Step 1 of a push: the page as it arrived, classified before the transaction waits for the learner's row lock (the
/// pages of one sync queue there).
struct PushPage {
    /// The attempts, their ids in PostgreSQL's lower-case spelling, so a re-sent attempt compares equal.
    private(set) var attempts: [Attempt]
    let flags: [AttemptFlags]
    /// Why each malformed attempt is refused; nil for a well-formed one.
    let problems: [String?]
    /// How many attempts are well-formed (those are numbered and stored when new).
    let wellFormed: Int
    /// What the well-formed attempts change besides `attempts`, for the usual case that every one is new (a look-up
    /// that sets some aside works it out again for the rest).
    let planned: PageEffects

    init(_ attempts: [Attempt], flags: [AttemptFlags], userID: Int64) {
        var problems: [String?] = []
        problems.reserveCapacity(attempts.count)
        var attempts = attempts
        for i in attempts.indices {
            let check = attempts[i].check()
            problems.append(check.problems.first)
            // They nearly always are lower-case already; the page is copied only when one is not.
            if !check.lowercaseIDs { attempts[i].normaliseIDs() }
        }
        let valid = attempts.indices.filter { problems[$0] == nil }
        self.attempts = attempts
        self.flags = flags
        self.problems = problems
        wellFormed = valid.count
        planned = PageEffects(of: attempts, flags: flags, at: valid, userID: userID)
    }
}

extension Attempt {
    /// Puts the UUIDs in PostgreSQL's lower-case spelling, so a re-sent attempt compares equal.
    mutating func normaliseIDs() {
        self = Attempt(
            id: id.lowercased(), deviceID: deviceID.lowercased(), questionID: questionID, questionVersion: questionVersion, chosen: chosen,
            correct: correct, answeredAt: answeredAt, durationMs: durationMs, sessionID: sessionID.lowercased())
    }
}
