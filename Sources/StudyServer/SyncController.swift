import Foundation
import Hummingbird
import Metrics
import StudyAPI
import StudyCore
import StudyStorage

/// `POST /v1/sync`: one round trip pushes a page of attempts and pulls a page of the user's others (PROTOCOL.md).
struct SyncController<Repository: AttemptRepository & ProgressRepository & DeviceRepository & DeckRepository & TeamRepository> {
    let repository: Repository
    let configuration: ServerConfiguration
    let clock: @Sendable () -> Int64
    /// Given the bundled decks' questions at start (`buildRouter`).
    let questions: QuestionCache

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.post("sync") { request, context in try await sync(request, context) }
        group.get("progress") { _, context in try await progress(context) }
    }

    func sync(_ request: Request, _ context: AppContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let started = ContinuousClock.now
        var mark = started
        /// The time since the last phase ended, as `studysync_sync_phase_seconds{phase}`.
        func lap(_ name: String) {
            let now = ContinuousClock.now
            Timer(label: "studysync_sync_phase_seconds", dimensions: [("phase", name)]).record(duration: now - mark)
            mark = now
        }
        // The sync messages have their own JSON codec (StudyAPI/WireJSON.swift): Foundation's took most of a push's time.
        let body: SyncRequest
        do {
            body = try SyncRequest(wireJSON: try await collectBody(request, limit: configuration.maxBodyBytes).readableBytesView)
        } catch let error as WireJSONError where error.kind == .tooLarge {
            let message = "\(error.description) Push at most \(SyncProtocol.maxPushPage) attempts per request; send the rest in the next one."
            throw APIError(.contentTooLarge, "page_too_large", message, field: error.field)
        } catch let error as WireJSONError {
            throw APIError.badRequest(error.description + (error.kind == .syntax ? " See GET /v1/openapi.json for the sync body." : ""))
        }
        lap("decode")
        if let problem = body.problem() {
            if problem.field == "attempts" { throw APIError(.contentTooLarge, "page_too_large", problem.message) }
            throw APIError(.badRequest, "invalid_field", problem.message, field: problem.field)
        }
        // The teams' decks, when asked, are read on a connection of their own while the page is stored and pulled; only
        // the answer that ends the sync carries them.
        async let listed: [PublishedDeck]? = body.listDecks ? repository.publishedDecks(userID: identity.user.id) : nil
        let now = clock()
        // Both are in 0...AttemptRules.latestTime, so the difference fits.
        let offset = now - body.clientTime

        let known = try await questions.lookUp(AttemptReview.questionKeys(of: body.attempts), in: repository)
        var flags = AttemptReview.flags(for: body.attempts, questions: known, serverTime: now)
        lap("grade")
        if AttemptRules.isClockOff(offsetMs: offset) {
            // A client that did not correct its stamps for a clock this far off: keep the attempts, keep them off boards.
            for i in flags.indices where body.attempts[i].deviceID.lowercased() == identity.device.id { flags[i].insert(.clockSkew) }
        }
        let outcomes = try await repository.insert(
            body.attempts, flags: flags, sessions: body.sessions, deviceID: identity.device.id, userID: identity.user.id, receivedAt: now)
        lap("insert")
        let inserted = Self.count(outcomes, flags: flags)
        // "Last seen" to the minute and the clock offset to the second are plenty: a request that changes neither writes
        // no device row (the pages of one sync, pushes included, write it once; each write is a commit of its own).
        let device = identity.device
        // The stored values were written by a server that may not have bounded them: compared without overflow.
        func differ(_ a: Int64, _ b: Int64, by limit: Int64) -> Bool {
            let (difference, overflow) = a.subtractingReportingOverflow(b)
            return overflow || difference.magnitude > limit.magnitude
        }
        if (device.lastSeenAt.map { differ(now, $0, by: 59_999) } ?? true) || (device.clockOffsetMs.map { differ($0, offset, by: 1_000) } ?? true) {
            try await repository.recordSync(deviceID: device.id, userID: device.userID, clockOffsetMs: offset, at: now)
        }
        lap("device")

        // pullLimit 0: a push only (of a client's pages sent back to back, only the first pulls).
        let limit = min(body.pullLimit ?? SyncProtocol.maxPullPage, SyncProtocol.maxPullPage)
        let page = try await repository.pull(
            userID: identity.user.id, after: Self.cursor(after: body.cursor, outcomes: outcomes), limit: limit, excludingDevice: identity.device.id)
        // The answer that ends the sync lists them: the client needs no request of its own for them.
        let decks = page.hasMore ? nil : try await listed
        lap("pull")
        Timer(label: "studysync_sync_duration_seconds").record(duration: ContinuousClock.now - started)
        context.logger.info(
            "sync",
            metadata: [
                "sync.pushed": "\(body.attempts.count)", "sync.inserted": "\(inserted)", "sync.pulled": "\(page.attempts.count)",
                "sync.clock_offset_ms": "\(offset)",
            ])
        let response = SyncResponse(
            results: body.attempts.indices.map { PushResult(id: body.attempts[$0].id, outcome: outcomes[$0], flags: flags[$0]) },
            attempts: page.attempts.map(PulledAttempt.init),
            cursor: page.cursor, hasMore: page.hasMore, serverTime: now, clockOffsetMs: offset,
            clockWarning: AttemptReview.clockWarning(offsetMs: offset), publishedDecks: decks)
        return jsonResponse(response.wireJSON(resultRuns: body.resultRuns, columns: body.pullColumns), for: request)
    }

    /// Where the pull of a request starts: after `cursor`, moved over the sequence numbers of the page's own attempts
    /// (stored now or before) when they follow it (`SyncProtocol.cursor(after:passing:)`): a push and pull in one request
    /// would otherwise read its own attempts again, in ranges of 1,000, only to leave them out.
    static func cursor(after cursor: Int64, outcomes: [PushOutcome]) -> Int64 {
        let own = outcomes.compactMap { outcome -> Int64? in
            switch outcome {
            case .inserted(let seq), .duplicate(let seq, _): seq
            case .conflict, .rejected: nil
            }
        }
        return SyncProtocol.cursor(after: cursor, passing: own)
    }

    func progress(_ context: AppContext) async throws -> ProgressList {
        let identity = try context.requireIdentity()
        return ProgressList(progress: try await repository.progress(userID: identity.user.id))
    }

    /// Counts a pushed page's outcomes (`studysync_attempts_total{outcome}`) and the flags of the stored ones
    /// (`studysync_attempts_flagged_total{flag}`); returns how many were inserted.
    static func count(_ outcomes: [PushOutcome], flags: [AttemptFlags]) -> Int {
        var counts = (inserted: 0, duplicate: 0, conflict: 0, rejected: 0)
        var flagged: [String: Int] = [:]
        for (i, outcome) in outcomes.enumerated() {
            switch outcome {
            case .inserted:
                counts.inserted += 1
                for (flag, name) in AttemptFlags.names where flags[i].contains(flag) { flagged[name, default: 0] += 1 }
            case .duplicate: counts.duplicate += 1
            case .conflict: counts.conflict += 1
            case .rejected: counts.rejected += 1
            }
        }
        for (outcome, n) in [
            ("inserted", counts.inserted), ("duplicate", counts.duplicate), ("conflict", counts.conflict), ("rejected", counts.rejected),
        ]
        where n > 0 {
            Counter(label: "studysync_attempts_total", dimensions: [("outcome", outcome)]).increment(by: n)
        }
        for (name, n) in flagged { Counter(label: "studysync_attempts_flagged_total", dimensions: [("flag", name)]).increment(by: n) }
        return counts.inserted
    }

}

/// Question versions by `id/version`, kept once read: a version's content never changes (its id is its hash), so the
/// cache is never stale. Keys the server does not know are asked again next time (a deck may be published meanwhile).
actor QuestionCache {
    private var known: [String: Question] = [:]

    /// A cache that knows `questions` already (the bundled decks', stored at start), so that the first pushes of them
    /// wait for no look-up.
    init(knowing questions: [Question] = []) {
        for question in questions { known[AttemptReview.key(question.id, question.version)] = question }
    }

    func lookUp(_ keys: Set<String>, in repository: some DeckRepository) async throws -> [String: Question] {
        let missing = keys.filter { known[$0] == nil }
        if !missing.isEmpty {
            for (key, question) in try await repository.questions(forKeys: missing) { known[key] = question }
        }
        return known.filter { keys.contains($0.key) }
    }

}
