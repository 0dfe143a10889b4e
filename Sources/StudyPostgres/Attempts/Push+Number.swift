import LibPQ
import Metrics
import StudyCore
import StudyStorage

/// Step 2 of a push: sequence numbers, handed out under the learner's row lock, so that they commit in the order they
/// are handed out and stay gap-free (ARCHITECTURE.md, invariant 4).
extension PostgresStore {
    /// Takes the learner's row lock and hands out `count` numbers in the same statement; returns the number before the
    /// first. The numbers are base + 1 … base + count.
    static func reserveNumbers(_ count: Int, userID: Int64, on tx: PostgresConnection) async throws -> Int64 {
        let reserved = Int64(count)
        // How long a push waits here for the learner's row lock (the pages of one learner queue), as a metric.
        let started = ContinuousClock.now
        defer { Timer(label: "studysync_row_lock_wait_seconds").record(duration: ContinuousClock.now - started) }
        if let base = try await tx.query(
            "UPDATE learner_counters SET attempt_seq = attempt_seq + \(reserved) WHERE user_id = \(userID) RETURNING attempt_seq - \(reserved)"
        ).scalar(Int64.self) {
            return base
        }
        // A user made without their counters (by hand, or a tool that inserts users itself): made here.
        try await ensureCounters(of: userID, on: tx)
        return try await reserveNumbers(count, userID: userID, on: tx)
    }

    /// Makes the learner's row of `learner_counters` (SQL/021) if there is none; throws when there is no such user.
    static func ensureCounters(of userID: Int64, on tx: PostgresConnection) async throws {
        let users = try await tx.query("SELECT 1 FROM users WHERE id = \(userID)").count
        guard users == 1 else { throw PostgresError(kind: .server, message: "There is no user \(userID).") }
        try await tx.query("INSERT INTO learner_counters (user_id) VALUES (\(userID)) ON CONFLICT (user_id) DO NOTHING")
    }

    /// The stored attempts with the ids of the page's well-formed ones, by id.
    /// `owner`: whose attempts, everyone's, or one learner's (on Citus: a read of their shard alone).
    static func storedAttempts(withIDsOf page: PushPage, of owner: Owner = .anyone, on tx: PostgresConnection) async throws -> [String: PushPage
        .Known]
    {
        let ids = PostgresArray(page.attempts.indices.filter { page.problems[$0] == nil }.map { page.attempts[$0].id })
        var stored: [String: PushPage.Known] = [:]
        let query: PostgresQuery =
            switch owner {
            case .anyone: "SELECT user_id, \(unsafeRaw: Self.pullColumns) FROM attempts WHERE id = ANY(\(ids)::uuid[])"
            case .only(let userID):
                "SELECT user_id, \(unsafeRaw: Self.pullColumns) FROM attempts WHERE user_id = \(userID) AND id = ANY(\(ids)::uuid[])"
            }
        let found = try await tx.query(query) { result throws(PostgresError) in
            // `storedAttempts` leaves out a row whose `seq` is NULL; a stored attempt always has one, so the rows and the
            // owners read beside them line up, and anything else is an error rather than an owner given to another's attempt.
            let attempts = try Self.storedAttempts(result, offset: 1)
            guard attempts.count == result.count else {
                throw PostgresError(kind: .decoding, message: "A stored attempt read back without its sequence number.")
            }
            return try zip((0..<result.count).map { row throws(PostgresError) in try result.int64(row, 0) }, attempts)
        }
        for (userID, attempt) in found {
            stored[attempt.attempt.id] = PushPage.Known(
                userID: userID, seq: attempt.seq, index: nil, attempt: attempt.attempt, ahead: attempt.flags.contains(.ahead))
        }
        return stored
    }
}

extension PostgresStore {
    /// On Citus: claims the page's well-formed ids for the learner in `attempt_owners` and returns those that other
    /// learners own (as `Known` with their user id: `number` refuses them).
    static func claim(_ page: PushPage, for userID: Int64, on pool: PostgresPool) async throws -> [String: PushPage.Known] {
        let ids = page.attempts.indices.filter { page.problems[$0] == nil }.map { page.attempts[$0].id }
        // Rows of VALUES, which Citus sends to each id's shard as an INSERT of that shard's rows (an INSERT … SELECT
        // goes through the coordinator's intermediate results, several times slower here).
        var claim = PostgresQuery.StringInterpolation(literalCapacity: 64 + 24 * ids.count, interpolationCount: 2 * ids.count)
        claim.appendLiteral("INSERT INTO attempt_owners (id, user_id) VALUES ")
        for (k, id) in ids.enumerated() {
            claim.appendLiteral(k == 0 ? "(" : ", (")
            claim.appendInterpolation(id)
            claim.appendLiteral("::uuid, ")
            claim.appendInterpolation(userID)
            claim.appendLiteral(")")
        }
        claim.appendLiteral(" ON CONFLICT (id) DO NOTHING RETURNING id::text")
        let claimed = ids.isEmpty ? [] : Set(try await pool.query(PostgresQuery(stringInterpolation: claim)).column(String.self))
        let taken = ids.filter { !claimed.contains($0) }
        guard !taken.isEmpty else { return [:] }
        var foreign: [String: PushPage.Known] = [:]
        for row in try await pool.query(
            "SELECT id::text, user_id FROM attempt_owners WHERE id = ANY(\(PostgresArray(taken))::uuid[]) AND user_id <> \(userID)")
        {
            foreign[try row.decode(String.self, at: 0)] = PushPage.Known(
                userID: try row.decode(Int64.self, at: 1), seq: 0, index: nil, attempt: nil, ahead: false)
        }
        return foreign
    }
}

/// Whose stored attempts a push's look-up reads.
enum Owner: Sendable {
    case anyone
    case only(Int64)
}

extension PushPage {
    /// An attempt with the id of one of the page's: stored before (`attempt`) or earlier in the page (`index`).
    struct Known {
        let userID: Int64
        let seq: Int64
        let index: Int?
        let attempt: Attempt?
        let ahead: Bool
    }

    /// The page numbered: each attempt's outcome, the new ones (numbered `base + 1`, `base + 2`, … in this order), and
    /// the last number used.
    struct Numbered {
        var outcomes: [PushOutcome]
        var fresh: [Int]
        var next: Int64
    }

    /// Numbers the well-formed attempts from `base + 1`. `stored`: what the look-up found (nil when the page was not
    /// looked up: then every well-formed attempt is new).
    func number(from base: Int64, stored: [String: Known]?, userID: Int64) -> Numbered {
        var known = stored
        var numbered = Numbered(outcomes: [], fresh: [], next: base)
        numbered.outcomes.reserveCapacity(attempts.count)
        numbered.fresh.reserveCapacity(attempts.count)
        for i in attempts.indices {
            if let problem = problems[i] {
                numbered.outcomes.append(.rejected(reason: problem))
            } else if let existing = known?[attempts[i].id] {
                if existing.userID != userID {
                    numbered.outcomes.append(.rejected(reason: "this id is already used by an attempt that is not yours; give the attempt a new id"))
                } else {
                    let same = existing.index.map { attempts[$0] == attempts[i] } ?? (existing.attempt == attempts[i])
                    numbered.outcomes.append(same ? .duplicate(seq: existing.seq, ahead: existing.ahead) : .conflict)
                }
            } else {
                numbered.next += 1
                known?[attempts[i].id] = Known(userID: userID, seq: numbered.next, index: i, attempt: nil, ahead: flags[i].contains(.ahead))
                numbered.outcomes.append(.inserted(seq: numbered.next))
                numbered.fresh.append(i)
            }
        }
        return numbered
    }
}
