import Foundation
import StudyAPI
import StudyCore

extension LocalStore {
    /// What importing a deck changed.
    public struct DeckImport: Sendable, Equatable {
        public let deck: String
        public let added: Int
        public let changed: Int
        public let unchanged: Int
        public let removed: Int
    }

    /// Stores `deck` under its name, replacing an earlier deck of that name. Question versions are kept forever, so attempts
    /// graded against an older version stay explained; attempts themselves are never touched.
    public func importDeck(_ deck: Deck, source: String, now: Int64 = Clock.nowMs()) throws -> DeckImport {
        try db.transaction {
            let before = Dictionary(
                try db.query("SELECT question_id, version FROM deck_questions WHERE deck_name = ?", [.text(deck.name)]) { ($0.text(0), $0.text(1)) },
                uniquingKeysWith: { a, _ in a })
            try db.run("DELETE FROM decks WHERE name = ?", [.text(deck.name)])
            try db.run(
                "INSERT INTO decks(name, id, source, imported_at) VALUES (?, ?, ?, ?)",
                [.text(deck.name), .text(deck.id), .text(source), .integer(now)])
            for (position, q) in deck.questions.enumerated() {
                try db.run(
                    "INSERT OR IGNORE INTO question_versions(question_id, version, prompt, options, correct) VALUES (?, ?, ?, ?, ?)",
                    [.text(q.id), .text(q.version), .text(q.prompt), .text(JSONText.encode(q.options)), .text(JSONText.encode(q.correct))])
                try db.run(
                    "INSERT INTO deck_questions(deck_name, position, question_id, version) VALUES (?, ?, ?, ?)",
                    [.text(deck.name), .init(position), .text(q.id), .text(q.version)])
            }
            let ids = Set(deck.questions.map(\.id))
            return DeckImport(
                deck: deck.name,
                added: deck.questions.count(where: { before[$0.id] == nil }),
                changed: deck.questions.count(where: { q in before[q.id].map { $0 != q.version } ?? false }),
                unchanged: deck.questions.count(where: { before[$0.id] == $0.version }),
                removed: before.keys.count(where: { !ids.contains($0) }))
        }
    }

    /// Every deck, by name.
    /// Each deck's id and where it came from (a file name, or `team:ID` for a deck a team published), by deck name.
    public func deckOrigins() throws -> [String: (id: String, source: String)] {
        Dictionary(uniqueKeysWithValues: try db.query("SELECT name, id, source FROM decks") { ($0.text(0), (id: $0.text(1), source: $0.text(2))) })
    }

    public func decks() throws -> [Deck] {
        try db.query("SELECT name FROM decks ORDER BY name") { $0.text(0) }.compactMap { try deck(named: $0) }
    }

    public func deck(named name: String) throws -> Deck? {
        guard try db.query("SELECT 1 FROM decks WHERE name = ?", [.text(name)], row: { _ in true }).first != nil else { return nil }
        let questions = try db.query(
            """
            SELECT v.prompt, v.options, v.correct FROM deck_questions d
            JOIN question_versions v ON v.question_id = d.question_id AND v.version = d.version
            WHERE d.deck_name = ? ORDER BY d.position
            """, [.text(name)]
        ) { row in
            Question(
                prompt: row.text(0), options: try JSONText.decode([String].self, row.text(1)), correct: try JSONText.decode([Int].self, row.text(2)))
        }
        return Deck(name: name, questions: questions)
    }

    /// The deck named `name`, or an error that lists the decks there are.
    public func requireDeck(_ name: String) throws -> Deck {
        if let deck = try deck(named: name) { return deck }
        let names = try db.query("SELECT name FROM decks ORDER BY name") { $0.text(0) }
        let known = names.isEmpty ? "there are no decks; import one with 'study deck import FILE'" : "the decks are: " + names.joined(separator: ", ")
        throw StoreError("There is no deck named '\(name)': \(known).")
    }

    /// The exact version of a question an attempt names, when this store knows it.
    public func question(id: String, version: String) throws -> Question? {
        try db.query("SELECT prompt, options, correct FROM question_versions WHERE question_id = ? AND version = ?", [.text(id), .text(version)]) {
            row in
            Question(
                prompt: row.text(0), options: try JSONText.decode([String].self, row.text(1)), correct: try JSONText.decode([Int].self, row.text(2)))
        }.first
    }
}

/// JSON columns in the local store.
enum JSONText {
    static func encode<T: Encodable>(_ value: T) -> String {
        String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    // Every attempt row has a chosen-options column: these two skip Foundation's codec for it (a sync page reads thousands).
    static func encode(_ value: [Int]) -> String {
        if value.count == 1 { return "[\(value[0])]" }  // nearly every answer: a short string, nothing allocated
        var json = JSONWriter(capacity: 16)
        json.array { json in for option in value { json.int(option) } }
        return String(decoding: json.bytes, as: UTF8.self)
    }

    static func decode(_ type: [Int].Type, _ text: String) throws -> [Int] {
        try JSONReader.read(text.utf8) { (json: inout JSONReader) throws(WireJSONError) in
            try json.readArray { (json: inout JSONReader) throws(WireJSONError) in try json.readInt() }
        }
    }
}
