import Foundation
import StudyAPI
import StudyCore

/// Sends one sync request and returns the answer: the HTTP API in the CLI, the server's handler in-process in tests.
public protocol SyncTransport: Sendable {
    func sync(_ request: SyncRequest) async throws -> SyncResponse
}

extension ServerAPI: SyncTransport {}

/// Runs a whole sync: pages of pending attempts pushed, pages of the user's others pulled, until nothing is left.
/// Each response is applied in one local transaction, so a sync cut short anywhere is resumed by the next and converges.
public struct SyncEngine {
    public struct Summary: Sendable, Equatable {
        public var pushed = 0
        public var pulled = 0
        public var duplicates = 0
        public var conflicts = 0
        public var rejected = 0
        public var requests = 0
        public var clockWarning: String?
        /// The decks published to the learner's teams, when the server listed them in the answer that ended the sync
        /// (`listDecks`); nil when it did not (a server before that), and they are to be asked for with `GET /v1/decks`.
        public var publishedDecks: [PublishedDeck]?
    }

    let store: LocalStore
    let transport: any SyncTransport
    let pageSize: Int
    let clock: () -> Int64

    /// How many pushed pages may be with the server at once: while it stores one, the next waits there decoded and
    /// checked. (With more, a later page could take the learner's row lock before an earlier one, and each question's
    /// progress be folded again from all its attempts.)
    static let pagesInFlight = 2

    /// The size of a sync's first page each way: small, so that the other side starts on it sooner (a push of fewer
    /// than twice this many is one page, `run`).
    static let firstPage = 1_000

    /// How many attempts a pull asks for when `pulls` pulls came before it in the sync (nil: as many as the server
    /// sends). The sync's first request asks for `firstPage`; the pull after it for four times that, so that the server
    /// reads and sends the next while this one is stored here; then full pages.
    static func pullLimit(after pulls: Int) -> Int? { pulls == 0 ? 4 * firstPage : nil }

    /// The push page for the limits a server advertises (`GET /v1/meta`): at most its page, and few enough attempts that
    /// a page stays well inside its body limit (an attempt in the row form is a few hundred bytes; 1 KiB is allowed).
    public static func pageSize(for meta: MetaResponse) -> Int {
        max(1, min(SyncProtocol.maxPushPage, meta.maxPushPage, meta.maxBodyBytes / 1_024))
    }

    public init(
        store: LocalStore, transport: any SyncTransport, pageSize: Int = SyncProtocol.maxPushPage, clock: @escaping () -> Int64 = { Clock.nowMs() }
    ) {
        self.store = store
        self.transport = transport
        self.pageSize = min(pageSize, SyncProtocol.maxPushPage)
        self.clock = clock
    }

    /// `progress` is told (done, total) after each request, for a progress bar.
    ///
    /// Pages of pending attempts go out one after another without waiting, `pagesInFlight` at once: while the server
    /// stores page N and page N+1 waits there, page N+2 is read; it is sent when page N is answered, and that answer is
    /// applied after. The first of them also asks for the first page of the pull (what other devices sent before the
    /// sync), the others for none (`pullLimit` 0); when more is left to pull, the pulls follow the pushes, cursor after
    /// cursor, each asked for while the page before it is stored (the first answer's too). A sync of one page or less is
    /// one request. The first page each way holds at most `firstPage` attempts (a push of under twice that, all of
    /// them), so work starts on both sides sooner; the second pull four times that (`pullLimit(after:)`), so that the
    /// server reads the third while the second is stored.
    public func run(progress: (Int, Int) -> Void = { _, _ in }) async throws -> Summary {
        var summary = Summary()
        let total = try store.pendingCount()
        func record(_ response: SyncResponse, pushed: [Attempt] = [], pushedSessions: [StudySession] = []) throws {
            let merge = try store.apply(response, pushed: pushed, pushedSessions: pushedSessions)
            summary.requests += 1
            summary.pulled += merge.inserted
            for result in response.results {
                switch result.status {
                case .inserted: summary.pushed += 1
                case .duplicate: summary.duplicates += 1
                case .conflict: summary.conflicts += 1
                case .rejected: summary.rejected += 1
                }
            }
            summary.clockWarning = response.clockWarning
            if let decks = response.publishedDecks { summary.publishedDecks = decks }
            progress(summary.pushed + summary.duplicates + summary.conflicts + summary.rejected, total)
        }

        // The pages with the server, oldest first; `pulls`: the page that also asks for the first page of the pull.
        typealias PageWithServer = (answer: Task<SyncResponse, any Error>, page: [Attempt], sessions: [StudySession], pulls: Bool)
        var inFlight: [PageWithServer] = []
        defer { for page in inFlight { page.answer.cancel() } }
        // Whether the first push's pull left nothing to pull.
        var pulledAll = false
        func settle(_ page: PageWithServer, _ response: SyncResponse) throws {
            try record(response, pushed: page.page, pushedSessions: page.sessions)
            if page.pulls { pulledAll = !response.hasMore }
        }
        /// Waits for the oldest page with the server and applies its answer.
        func settleOldest() async throws {
            let oldest = inFlight.removeFirst()
            try settle(oldest, try await oldest.answer.value)
        }
        var last: Attempt?
        var firstAnswer: (response: SyncResponse, page: [Attempt], sessions: [StudySession])?
        // The first page is small, so the server starts on it while the next, full one is read and sent; but fewer than
        // two first pages go as one: a second page smaller than the first can reach the learner's row lock before it,
        // and the first's answers, older than the progress then stored, are folded again from all their questions'
        // attempts (docs/benchmarks.md).
        let firstLimit = total < 2 * Self.firstPage ? max(total, Self.firstPage) : Self.firstPage
        while true {
            let limit = last == nil ? min(pageSize, firstLimit) : pageSize
            let page = try store.pendingAttempts(after: last, limit: limit)
            let sessions = try store.pendingSessions(for: page)
            // The only page (or none; or the first, when it holds every pending attempt): push and pull in one request.
            if inFlight.isEmpty && (page.count < limit || (last == nil && page.count == total)) {
                let response = try await transport.sync(
                    SyncRequest(clientTime: clock(), cursor: store.syncCursor, attempts: page, sessions: sessions, pullLimit: Self.firstPage))
                guard response.hasMore else {
                    try record(response, pushed: page, pushedSessions: sessions)
                    return summary
                }
                // More to pull: the next page is asked for before this answer is stored (below).
                firstAnswer = (response, page, sessions)
                break
            }
            if !page.isEmpty {
                // The first page also asks for the first page of the pull: what other devices sent before this sync,
                // which then costs no request of its own when it is all there is.
                let pulls = last == nil
                last = page.last
                // With `pagesInFlight` pages at the server already, this one, read meanwhile, goes out the moment the
                // oldest is answered, and that answer is applied after: the server never waits for the CLI's SQLite.
                var answered: (page: PageWithServer, response: SyncResponse)?
                if inFlight.count >= Self.pagesInFlight {
                    let oldest = inFlight.removeFirst()
                    answered = (oldest, try await oldest.answer.value)
                }
                let request = SyncRequest(
                    clientTime: clock(), cursor: store.syncCursor, attempts: page, sessions: sessions, pullLimit: pulls ? Self.firstPage : 0)
                inFlight.append((Task { [transport] in try await transport.sync(request) }, page, sessions, pulls))
                if let answered { try settle(answered.page, answered.response) }
            }
            if page.count < limit {
                while !inFlight.isEmpty { try await settleOldest() }
                if pulledAll { return summary }
                break
            }
        }
        // Pulls: each page is asked for, with the cursor the answer before it gave, while that answer is stored.
        // The loop above always sent a request first (the only page with a pull, or pushes), so these follow one.
        var pulls = 0
        func pull(after cursor: Int64) -> Task<SyncResponse, any Error> {
            let request = SyncRequest(clientTime: clock(), cursor: cursor, attempts: [], pullLimit: Self.pullLimit(after: pulls))
            pulls += 1
            return Task { [transport] in try await transport.sync(request) }
        }
        var next = pull(after: firstAnswer.map { LocalStore.cursor(after: $0.response, stored: store.syncCursor) } ?? store.syncCursor)
        defer { next.cancel() }
        if let first = firstAnswer { try record(first.response, pushed: first.page, pushedSessions: first.sessions) }
        while true {
            let response = try await next.value
            if response.hasMore { next = pull(after: response.cursor) }
            try record(response)
            if !response.hasMore { return summary }
        }
    }
}
