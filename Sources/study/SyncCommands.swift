import ArgumentParser
import Foundation
import StudyAPI
import StudyClient
import StudyCore

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Push this home's new answers and pull those from your other devices.")
    @OptionGroup var options: HomeOptions

    func run() async throws {
        let (store, credentials, api) = try loggedIn(options)
        // The server's protocol, limits and wire features, as the last sync read them (no round trip of their own), or
        // read now: a server this study cannot sync with is a sentence, not a failed page.
        let remembered = try store.rememberedServerMeta(for: credentials.server)
        var meta: MetaResponse
        if let remembered { meta = remembered } else { meta = try await serverMeta(api, credentials, store) }
        // The decks published to the learner's teams come in the sync's last answer from a server that lists them there;
        // from one before that, they are asked for while the answers sync. No round trip of their own either way.
        let listing = ServerAPI.Features(meta: meta).decksInSync ? nil : Task { try await api.publishedDecks() }
        defer { listing?.cancel() }
        let summary: SyncEngine.Summary
        do {
            do {
                summary = try await sync(store, api, meta)
            } catch let error as ServerError where remembered != nil && [400, 413, 415, 426].contains(error.status) {
                // Refused as a request in forms or sizes the server no longer takes: it changed since the last sync (an
                // upgrade, a downgrade, other limits). Ask it again and sync once more; what was synced stays synced.
                meta = try await serverMeta(api, credentials, store)
                summary = try await sync(store, api, meta)
            }
        } catch let error as ServerError where error.status == 401 {
            let pending = (try? store.pendingCount()) ?? 0
            var message = "The server no longer accepts this home's token (logged out, expired, or this device was revoked)."
            if pending > 0 {
                message += " Your \(pending) answers waiting to sync are safe here: save them with 'study backup export FILE'."
                message +=
                    " Then run 'study login' again; if this device was revoked, log in from a new study home and 'study backup import FILE' there."
            } else {
                message += " Run 'study login' again; if this device was revoked, log in from a new study home."
            }
            throw CLIError(message)
        }
        if Terminal.interactive && summary.requests > 1 { Terminal.say() }
        var line = "Synced with \(credentials.server): pushed \(summary.pushed), pulled \(summary.pulled)"
        if summary.duplicates > 0 { line += ", \(summary.duplicates) already there" }
        if summary.conflicts > 0 { line += ", \(summary.conflicts) conflicts (kept here; the server has different attempts under those ids)" }
        if summary.rejected > 0 { line += ", \(summary.rejected) refused by the server ('study status' says why)" }
        Terminal.say(line + ".")
        if let warning = summary.clockWarning { Terminal.say("Warning: " + warning) }
        do {
            let listed: [PublishedDeck]
            if let decks = summary.publishedDecks {
                listed = decks
            } else if let listing {
                listed = try await listing.value
            } else {
                listed = try await api.publishedDecks()  // the server stopped listing them since the last sync
            }
            for name in try await store.receivePublishedDecks(listed, from: api) {
                Terminal.say("New deck from your team: '\(name)' ('study quiz --deck \"\(name)\"').")
            }
        } catch {
            // The answers are synced; only the decks did not come. The next sync tries again.
            Terminal.say("Warning: your teams' decks could not be fetched (\(error)); the next 'study sync' tries again.", toError: true)
        }
    }
}

extension Sync {
    /// `GET /v1/meta`, remembered in the home for the next sync; an error when the server speaks another protocol.
    func serverMeta(_ api: ServerAPI, _ credentials: Credentials, _ store: LocalStore) async throws -> MetaResponse {
        let meta = try await api.meta()
        guard meta.protocolVersion == SyncProtocol.version else {
            throw CLIError(
                meta.protocolVersion > SyncProtocol.version
                    ? "\(credentials.server) speaks sync protocol \(meta.protocolVersion), newer than this study's \(SyncProtocol.version): upgrade study (this is \(StudySyncVersion.current)). Nothing was synced; your answers are safe here."
                    : "\(credentials.server) speaks sync protocol \(meta.protocolVersion), older than this study's \(SyncProtocol.version): ask its administrator to upgrade it. Nothing was synced; your answers are safe here."
            )
        }
        try store.rememberServerMeta(meta, for: credentials.server)
        return meta
    }

    func sync(_ store: LocalStore, _ api: ServerAPI, _ meta: MetaResponse) async throws -> SyncEngine.Summary {
        try await SyncEngine(store: store, transport: api.using(.init(meta: meta)), pageSize: SyncEngine.pageSize(for: meta)).run { done, total in
            guard Terminal.interactive, total > 2_000 else { return }
            print("\r  \(Terminal.bar(done, of: total, width: 30)) \(done)/\(total)", terminator: "")
            fflush(nil)
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the login, pending answers, the last sync and any clock warning.")
    @OptionGroup var options: HomeOptions
    @Flag(help: "Print JSON.") var json = false

    struct Output: Encodable {
        let server: String?
        let username: String?
        let deviceId: String
        let pendingAttempts: Int
        let conflicts: Int
        let rejected: Int
        let lastSyncAt: Int64?
        let clockOffsetMs: Int64
        let clockWarning: String?
    }

    func run() async throws {
        let store = try options.openStoreForReading()
        let credentials = try Credentials.load(for: store.directory)
        let problems = try store.unsyncable()
        let output = Output(
            server: credentials?.server, username: credentials?.username, deviceId: store.deviceID, pendingAttempts: try store.pendingCount(),
            conflicts: problems.conflicts, rejected: problems.rejected, lastSyncAt: store.lastSyncAt, clockOffsetMs: store.clockOffsetMs,
            clockWarning: store.clockWarning)
        if json {
            Terminal.say(Terminal.json(output))
            return
        }
        Terminal.say(
            credentials.map { "Logged in as \($0.username) on \($0.server)." } ?? "Not logged in: answers stay on this computer until 'study login'.")
        Terminal.say("Answers waiting to sync: \(output.pendingAttempts).")
        Terminal.say("Last sync: \(output.lastSyncAt.map { Terminal.time($0) } ?? "never").")
        if output.conflicts + output.rejected > 0 {
            Terminal.say("Not synced: \(output.conflicts) conflicting and \(output.rejected) refused answers (kept here).")
        }
        if let warning = output.clockWarning { Terminal.say("Warning: " + warning) }
    }
}
