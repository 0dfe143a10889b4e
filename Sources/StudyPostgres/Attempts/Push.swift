import LibPQ
import StudyCore
import StudyStorage

/// Storing a pushed page, in five steps, each in the file that names it, in one transaction with the study sessions
/// the page brings (so that a push commits once):
///
/// 1. **classify** the page (`Push+Classify.swift`): which attempts are well formed, their COPY rows and what they
///    change besides `attempts`, all before any lock is taken;
/// 2. **number** it (`Push+Number.swift`): the learner's row lock hands out gap-free sequence numbers, and a look-up,
///    when needed, sorts each attempt into inserted, duplicate, conflict or refused;
/// 3. **store** it (`Push+Store.swift`): one binary COPY of the new attempts;
/// 4. **fold progress** (`Progress.swift`): the new attempts folded onto the stored progress of their questions;
/// 5. **update the aggregates** (`Aggregates.swift`): the boards' day, week and month rows and the first step of the
///    change of the question reports' sums in one round trip (it locks the learner's teams until the commit), then,
///    after the progress, the statistics and the second step.
extension PostgresStore: AttemptRepository {
    public func insert(_ attempts: [Attempt], flags: [AttemptFlags], userID: Int64, receivedAt: Int64) async throws -> [PushOutcome] {
        try await insert(attempts, flags: flags, sessions: [], deviceID: "", userID: userID, receivedAt: receivedAt)
    }

    public func insert(
        _ attempts: [Attempt], flags: [AttemptFlags], sessions: [StudySession], deviceID: String, userID: Int64, receivedAt: Int64
    ) async throws -> [PushOutcome] {
        precondition(attempts.count == flags.count, "one set of flags per attempt")
        let sessionsQuery = Self.sessionsQuery(sessions, userID: userID, deviceID: deviceID)
        guard !attempts.isEmpty else {
            if let sessionsQuery { try await pool.query(sessionsQuery) }
            return []
        }
        let page = PushPage(attempts, flags: flags, userID: userID)
        // Pushed attempts are nearly always new, so the first try copies them without looking their ids up; only when
        // that runs into a stored id (a resent page, an id repeated in the page, an id of another user) is the
        // transaction rolled back and redone with a look-up that sorts each attempt into inserted, duplicate, conflict
        // or refused.
        //
        // On Citus an id is unique per learner only (SQL/citus/distribute.sql), so the copy would not run into another
        // learner's: there every id is claimed first for the learner in `attempt_owners`, distributed by id (one
        // probe of one shard per id, before the push's transaction, which stays on the learner's node). The ids the
        // claim did not take are someone's already: another learner's are refused, the learner's own are sorted by
        // the look-up in the transaction (a page sent again).
        let distributed = try await isDistributed()
        var lookUp = distributed
        let foreign: [String: PushPage.Known] = distributed ? try await Self.claim(page, for: userID, on: pool) : [:]
        return try await retrying { tx in
            // The page's sessions first, before the learner's row lock is taken: the push commits once for both.
            if let sessionsQuery { try await tx.query(sessionsQuery) }
            let base = try await Self.reserveNumbers(page.wellFormed, userID: userID, on: tx)
            let stored =
                lookUp
                ? try await Self.storedAttempts(withIDsOf: page, of: distributed ? .only(userID) : .anyone, on: tx).merging(foreign) { own, _ in own }
                : nil
            let numbered = page.number(from: base, stored: stored, userID: userID)
            if numbered.next != base + Int64(page.wellFormed) {
                try await tx.query("UPDATE learner_counters SET attempt_seq = \(numbered.next) WHERE user_id = \(userID)")
            }
            guard !numbered.fresh.isEmpty else { return numbered.outcomes }
            let effects =
                numbered.fresh.count == page.wellFormed
                ? page.planned : PageEffects(of: page.attempts, flags: page.flags, at: numbered.fresh, userID: userID)
            // The stored progress of the page's questions is read first, and the page folded onto it while PostgreSQL
            // takes the COPY: that fold then costs the learner's row lock no time.
            let progress = base == 0 ? [:] : try await Self.storedProgress(userID: userID, questionIDs: effects.questionIDs, on: tx)
            async let extended = Self.extendFolds(effects.attempts, effects.groups, onto: progress, firstAttempts: base == 0)
            do {
                try await Self.copy(page, fresh: numbered.fresh, numberedAfter: base, userID: userID, receivedAt: receivedAt, on: tx)
            } catch let error as PostgresError where error.kind == .uniqueViolation && !lookUp {
                lookUp = true
                throw error  // `retrying` runs the transaction again, with the look-up
            }
            try await Self.beginTeamAggregates(effects, userID: userID, seqAbove: base, upTo: numbered.next, on: tx)
            try await Self.finishFold(await extended, stored: progress, userID: userID, at: receivedAt, on: tx)
            try await Self.updateQuestionReports(effects, on: tx)
            return numbered.outcomes
        }
    }
}
