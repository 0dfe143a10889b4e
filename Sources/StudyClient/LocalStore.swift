import Foundation
import StudyCore
import StudyDecks

/// The learner's local store: decks, question versions and attempts in SQLite (WAL), one file per home.
///
/// Every recorded answer is committed with `synchronous=FULL` before `record` returns, so a crash loses at most the
/// question on screen.
public final class LocalStore {
    public let directory: URL
    public let deviceID: String
    let db: SQLiteDatabase

    public static let fileName = "study.sqlite3"

    /// Opens (creating on first use) the store in `directory`, migrates its schema, and loads the bundled decks the first time.
    ///
    /// `forReading`: the caller only reads (status, history, progress, a backup export). When the disk is full or the
    /// home is read-only, the store is then opened without writing anything, so a learner can still see and save their
    /// answers; it must already exist and be of this version's schema.
    public init(directory: URL, forReading: Bool = false) throws {
        self.directory = directory
        if forReading, FileManager.default.fileExists(atPath: directory.appendingPathComponent(Self.fileName).path) {
            do {
                db = try Self.open(directory)
            } catch let error as SQLiteError where error.isStorageFailure {
                db = try Self.openWithoutWriting(directory, failure: error)
            }
            guard let id = try db.query("SELECT value FROM meta WHERE key = 'device_id'", row: { $0.text(0) }).first else {
                throw StoreError("The local store in \(directory.path) has no device id yet: run any study command with space on the disk first.")
            }
            deviceID = id
            return
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(
                "Cannot create the study home \(directory.path): \(error.localizedDescription). Choose another with --home DIR or STUDY_HOME.")
        }
        do {
            db = try Self.open(directory)
        } catch let error as SQLiteError {
            throw StoreError("Cannot open the local store in \(directory.path). \(error.description)")
        }
        if let id = try db.query("SELECT value FROM meta WHERE key = 'device_id'", row: { $0.text(0) }).first {
            deviceID = id
        } else {
            deviceID = UUID().uuidString.lowercased()
            try db.run("INSERT INTO meta(key, value) VALUES ('device_id', ?)", [.text(deviceID)])
        }
        try loadBundledDecksOnce()
    }

    private static func open(_ directory: URL) throws -> SQLiteDatabase {
        let db = try SQLiteDatabase(path: directory.appendingPathComponent(Self.fileName).path)
        try db.execute(script: "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        try Migrations.apply(to: db)
        return db
    }

    /// The store opened for reading only, then as an immutable file; each must find the schema current (a migration
    /// would have to write).
    private static func openWithoutWriting(_ directory: URL, failure: SQLiteError) throws -> SQLiteDatabase {
        let path = directory.appendingPathComponent(Self.fileName).path
        for access in [SQLiteDatabase.Access.readOnly, .immutable] {
            guard let db = try? SQLiteDatabase(path: path, access: access),
                let version = try? db.query("PRAGMA user_version", row: { Int($0.int(0)) }).first
            else { continue }
            guard version == Migrations.steps.count else {
                throw StoreError(
                    "Cannot open the local store in \(directory.path): it needs an upgrade, which needs to write. \(failure.description)")
            }
            return db
        }
        throw StoreError("Cannot open the local store in \(directory.path). \(failure.description)")
    }

    private func loadBundledDecksOnce() throws {
        guard try meta("bundled_decks_loaded") == nil else { return }
        for source in try BundledDecks.all() {
            let deck = try SeedFormat.parse(source.text, name: source.name)
            _ = try importDeck(deck, source: "bundled")
        }
        try setMeta("bundled_decks_loaded", "1")
    }

    func meta(_ key: String) throws -> String? {
        try db.query("SELECT value FROM meta WHERE key = ?", [.text(key)]) { $0.text(0) }.first
    }

    func setMeta(_ key: String, _ value: String?) throws {
        if let value {
            try db.run(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [.text(key), .text(value)])
        } else {
            try db.run("DELETE FROM meta WHERE key = ?", [.text(key)])
        }
    }
}

/// A failure of the local store, phrased for the learner.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The local schema, versioned by `PRAGMA user_version`; migrations only go forward, each in its own transaction.
enum Migrations {
    static let steps: [String] = [
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE decks (
            name TEXT PRIMARY KEY,
            id TEXT NOT NULL,
            source TEXT NOT NULL,
            imported_at INTEGER NOT NULL
        );
        CREATE TABLE question_versions (
            question_id TEXT NOT NULL,
            version TEXT NOT NULL,
            prompt TEXT NOT NULL,
            options TEXT NOT NULL,
            correct TEXT NOT NULL,
            PRIMARY KEY (question_id, version)
        );
        CREATE TABLE deck_questions (
            deck_name TEXT NOT NULL REFERENCES decks(name) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            question_id TEXT NOT NULL,
            version TEXT NOT NULL,
            PRIMARY KEY (deck_name, position),
            FOREIGN KEY (question_id, version) REFERENCES question_versions(question_id, version)
        );
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            deck_id TEXT NOT NULL,
            device_id TEXT NOT NULL,
            started_at INTEGER NOT NULL
        );
        CREATE TABLE attempts (
            id TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            question_id TEXT NOT NULL,
            question_version TEXT NOT NULL,
            chosen TEXT NOT NULL,
            correct INTEGER NOT NULL,
            answered_at INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            session_id TEXT NOT NULL,
            pushed INTEGER NOT NULL DEFAULT 0,
            server_seq INTEGER
        );
        CREATE INDEX attempts_by_question ON attempts (question_id, answered_at, id);
        CREATE INDEX attempts_by_time ON attempts (answered_at, id);
        CREATE INDEX attempts_pending ON attempts (answered_at, id) WHERE pushed = 0;
        """,
        // Sync: why the server set an attempt aside, and which sessions it has.
        """
        ALTER TABLE attempts ADD COLUMN sync_note TEXT;
        ALTER TABLE sessions ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0;
        """,
        // The outbox: what waits to be pushed is listed in a narrow table in push order. Marking a pushed page done
        // deletes its outbox rows instead of rewriting every attempt's row and its partial index entry (2.6 times the
        // work in `studysync-bench store`). `pushed` becomes `sync_state`, which no longer says whether an attempt
        // waits: 0 made here (or restored from a backup), 1 pulled from the server (or pushed before the outbox), 2 the
        // server holds a different attempt under its id, 3 refused by the server. `server_seq` is kept for pulled
        // attempts only.
        """
        CREATE TABLE outbox (
            answered_at INTEGER NOT NULL,
            id TEXT NOT NULL,
            PRIMARY KEY (answered_at, id)
        ) WITHOUT ROWID;
        INSERT INTO outbox(answered_at, id) SELECT answered_at, id FROM attempts WHERE pushed = 0;
        DROP INDEX attempts_pending;
        ALTER TABLE attempts RENAME COLUMN pushed TO sync_state;
        CREATE TRIGGER attempts_into_outbox AFTER INSERT ON attempts WHEN NEW.sync_state = 0
        BEGIN
            INSERT INTO outbox(answered_at, id) VALUES (NEW.answered_at, NEW.id);
        END;
        """,
        // The outbox is filled where attempts are made or restored (`insertLocal`), not by step 4's trigger: SQLite ran
        // the trigger's program for every pulled attempt too, a quarter more work per stored row though it inserted
        // nothing.
        """
        DROP TRIGGER attempts_into_outbox;
        """,
        // No local query reads attempts by question (progress folds every attempt in time order, through
        // attempts_by_time), and each stored attempt, pulled ones above all, paid for this index.
        """
        DROP INDEX attempts_by_question;
        """,
        // The rule for time (PROTOCOL.md, "Time"): an attempt the server holds with the `ahead` flag (stamped beyond the
        // clock tolerance in its future) counts in no progress and moves no clock, here as on the server.
        """
        ALTER TABLE attempts ADD COLUMN ahead INTEGER NOT NULL DEFAULT 0;
        """,
    ]

    static func apply(to db: SQLiteDatabase) throws {
        let current = try db.query("PRAGMA user_version") { Int($0.int(0)) }.first ?? 0
        guard current <= steps.count else {
            throw StoreError("The local store was written by a newer version of study (schema \(current)); upgrade study to open it.")
        }
        for (index, script) in steps.enumerated().dropFirst(current) {
            try db.transaction {
                try db.execute(script: script)
                // PRAGMA takes no bound parameters; the value is our own integer.
                try db.execute(script: "PRAGMA user_version = \(index + 1)")
            }
        }
    }
}
