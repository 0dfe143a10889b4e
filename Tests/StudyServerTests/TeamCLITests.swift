import Foundation
import Hummingbird
import HummingbirdTesting
import StudyAPI
import StudyClient
import StudyCore
import StudyServer
import Testing

/// Issue 5 tried as people would: an admin, an instructor and two learners with their own homes, through the real
/// `study` binary and the real server over HTTP.
@Suite(.serialized) struct TeamCLITests {
    /// Answers a learner made on another machine, brought in with `study backup import` (piped quiz answers would take
    /// 0 ms each and be flagged as too fast, rightly, and so earn nothing on the board).
    func answers(right: [Bool], start: Int64) throws -> String {
        let deck = TeamTests.deck
        let device = UUID().uuidString.lowercased(), session = UUID().uuidString.lowercased()
        let encoder = JSONEncoder()
        return try right.enumerated().map { i, ok in
            let q = deck.questions[i]
            let attempt = Attempt(
                id: UUID().uuidString.lowercased(), deviceID: device, questionID: q.id, questionVersion: q.version,
                chosen: ok ? q.correct : [(q.correct[0] + 1) % q.options.count], correct: ok, answeredAt: start + Int64(i) * 60_000,
                durationMs: 5_000,
                sessionID: session)
            return String(decoding: try encoder.encode(attempt), as: UTF8.self)
        }.joined(separator: "\n") + "\n"
    }

    @Test func learnersAndAnInstructorStudySyncAndSeeWhatTheyMay() async throws {
        let app = try await buildApplication(try await testConfiguration(), onServerRunning: { _ in })
        try await app.test(.live) { client in
            let server = "http://127.0.0.1:\(client.port!)"
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let (root, prof, ann, bob, zed) = (Home(now: now), Home(now: now), Home(now: now), Home(now: now), Home(now: now))
            for (home, name) in [(root, "root"), (prof, "prof"), (ann, "ann"), (bob, "bob"), (zed, "zed")] {
                let registered = try await home.run(
                    ["register", "--server", server, "--username", name, "--password-stdin"], input: "pass phrase 1\n")
                #expect(registered.status == 0, "\(registered.err)")
            }
            let refused = try await prof.run(["team", "create", "Group"])
            #expect(refused.status != 0 && refused.err.contains("Only instructors and admins create teams"))
            #expect(try await root.run(["role", "prof", "instructor"]).out.contains("prof is now an instructor"))
            let created = try await prof.run(["team", "create", "Group", "--time-zone", "UTC"])
            #expect(created.status == 0, "\(created.err)")
            let code = try await prof.run(["team", "invite"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!code.isEmpty)
            for learner in [ann, bob] {
                let joined = try await learner.run(["team", "join", code])
                #expect(joined.out.contains("You are in 'Group'"), "\(joined.err) (invite printed: \(code))")
            }

            // The answers fall in this week of the team's (UTC, from Monday), which the leaderboard shows: an hour or two
            // ago, or, in the first hours of a Monday, since midnight (the last a minute or two ahead at most, well within
            // the server's clock tolerance). 1970-01-05 was a Monday.
            let week: Int64 = 7 * 86_400_000
            let weekStart = now - (now - 4 * 86_400_000) % week
            let file = ann.data.url.appendingPathComponent("answers.jsonl")
            try answers(right: [true, true, false], start: max(now - 3_600_000, weekStart)).write(to: file, atomically: true, encoding: .utf8)
            #expect(try await ann.run(["backup", "import", file.path]).status == 0)
            let bobFile = bob.data.url.appendingPathComponent("answers.jsonl")
            try answers(right: [true, false], start: max(now - 7_200_000, weekStart)).write(to: bobFile, atomically: true, encoding: .utf8)
            #expect(try await bob.run(["backup", "import", bobFile.path]).status == 0)
            for learner in [ann, bob] { #expect(try await learner.run(["sync"]).status == 0) }

            // Points: ann 2 (two questions right today), bob 1.
            let board = try await ann.run(["leaderboard", "--json"])
            #expect(board.status == 0, "\(board.err)")
            let rows = try JSONSerialization.jsonObject(with: Data(board.out.utf8)) as? [String: Any]
            let entries = (rows?["rows"] as? [[String: Any]] ?? []).map {
                ($0["displayName"] as? String ?? "", $0["points"] as? Int ?? -1, $0["rank"] as? Int ?? -1)
            }
            #expect(entries.map(\.0) == ["ann", "bob"] && entries.map(\.1) == [2, 1] && entries.map(\.2) == [1, 2])
            #expect(try await bob.run(["leaderboard"]).out.contains("bob (you)"))

            let report = try await prof.run(["report", "learners", "--format", "csv"])
            #expect(report.status == 0, "\(report.err)")
            let lines = report.out.split(separator: "\n").map(String.init)
            #expect(lines.first == "learner,name,questions,attempts,accuracy,mastered,due,streak,last active,inactive")
            #expect(lines.contains { $0.hasPrefix("ann,ann,3,3,0.667,") } && lines.contains { $0.hasPrefix("bob,bob,2,2,0.500,") })
            let questions = try await prof.run(["report", "questions", "--format", "json"])
            #expect(questions.status == 0 && questions.out.contains("\"facility\" : 1"))
            let learnerDetail = try await prof.run(["report", "learner", "ann"])
            #expect(learnerDetail.status == 0 && learnerDetail.out.contains("ann (ann): 3 answers to 3 questions"))

            // Learners see no reports; someone outside the team sees nothing of it.
            let forbidden = try await ann.run(["report", "learners"])
            #expect(forbidden.status != 0 && forbidden.err.contains("Only the team's instructors"))
            let outsider = try await zed.run(["leaderboard", "--team", "Group"])
            #expect(outsider.status != 0 && outsider.err.contains("You are in no team 'Group'"))

            // A deck published to the team reaches the learners on their next sync.
            let deckFile = prof.data.url.appendingPathComponent("capitals.txt")
            try "Capital of France?\n\nParis (Correct)\n\nLyon\n".write(to: deckFile, atomically: true, encoding: .utf8)
            let published = try await prof.run(["deck", "publish", deckFile.path])
            #expect(published.status == 0 && published.out.contains("Published 'capitals' (1 questions"), "\(published.err)")
            let broken = prof.data.url.appendingPathComponent("broken.txt")
            try "Capital of Spain?\n\nMadrid\n\nSevilla\n".write(to: broken, atomically: true, encoding: .utf8)
            let refusedDeck = try await prof.run(["deck", "publish", broken.path])
            #expect(refusedDeck.status != 0 && refusedDeck.err.contains("broken.txt"))
            let synced = try await ann.run(["sync"])
            #expect(synced.out.contains("New deck from your team: 'capitals'"))
            #expect(try await ann.run(["deck", "list"]).out.contains("capitals"))
            // A home that remembers the meta of a server from before the decks came in the sync's answer (no
            // `syncLists`) asks for them beside the sync, and the deck arrives all the same.
            let current = try await ServerAPI(server: server).meta()
            let older = MetaResponse(
                protocolVersion: current.protocolVersion, serverTime: current.serverTime, maxPushPage: current.maxPushPage,
                maxPullPage: current.maxPullPage, maxBodyBytes: current.maxBodyBytes, clockToleranceMs: current.clockToleranceMs,
                registration: current.registration, contentEncodings: current.contentEncodings, pageForms: current.pageForms)
            try LocalStore(directory: bob.data.url).rememberServerMeta(older, for: server, now: now)  // the homes' clock
            let bobSynced = try await bob.run(["sync"])
            #expect(bobSynced.out.contains("New deck from your team: 'capitals'"), "\(bobSynced.out) \(bobSynced.err)")
        }
    }
}
