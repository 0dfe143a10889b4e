import Foundation
import Testing

@testable import StudyClient
@testable import StudyCore

@Suite struct QuizCLITests {
    let study = StudyProcess()
    let geography = "Capital of France?\n\nLyon\n\nParis (Correct)\n\nNice\n---\nWhich are rivers?\n\nSeine (Correct)\n\nAlps\n\nLoire (Correct)\n"

    @Test func aScriptedQuizPrintsExactlyThisAndRecordsEveryAnswer() throws {
        let file = try study.write("geo.txt", geography)
        #expect(try study.run(["deck", "import", file]).stdout == "Imported deck 'geo' (seed format): 2 questions, 2 new, 0 changed, 0 unchanged.\n")
        let output = try study.run(["quiz", "--deck", "geo", "--seed", "7", "--mode", "all"], input: "x\nc\nac\n")
        // Seed 7 asks France first, showing Lyon, Nice, Paris; then the rivers as Alps, Seine, Loire.
        let expected = """
            geo: 2 questions (all)

            Question 1 of 2
            Capital of France?

              A) Lyon
              B) Nice
              C) Paris
            Your answer (A-C, q to quit): 
            Type one letter from A to C, or q to quit.
            Your answer (A-C, q to quit): 
            Right.

            Question 2 of 2
            Which are rivers?
            Choose all that apply.

              A) Alps
              B) Seine
              C) Loire
            Your answers (letters, q to quit): 
            Wrong. The answers are B) Seine; C) Loire

            You answered 2, 1 right (50%). 'study progress' shows what is due.

            """
        #expect(output.stdout == expected)
        #expect(output.status == 0)
        // History is newest first; choices are stored as canonical indexes (Paris is option 1; Alps and Loire are 1 and 2).
        let history = try #require(try study.json(["history", "--json"]) as? [[String: Any]])
        #expect(history.map { $0["chosen"] as? [Int] } == [[1, 2], [1]])
        #expect(history.map { $0["correct"] as? Bool } == [false, true])
    }

    @Test func pipedAnswersShowInProgressJson() throws {
        let output = try study.run(["--count", "3", "--seed", "1"], input: "a\nb\nc\n")
        #expect(output.status == 0)
        #expect(output.stdout.contains("You answered 3,"))
        let progress = try #require(try study.json(["progress", "--json", "--questions"]) as? [String: Any])
        let deck = try #require((progress["decks"] as? [[String: Any]])?.first)
        #expect(deck["deck"] as? String == "ml-deployment")
        #expect(deck["answered"] as? Int == 3)
        #expect(deck["attempts"] as? Int == 3)
        let questions = try #require(deck["questions"] as? [[String: Any]])
        #expect(questions.count == 21)
        #expect(questions.prefix(3).allSatisfy { $0["state"] as? String == "learning" })
        #expect(questions.dropFirst(3).allSatisfy { $0["state"] as? String == "new" })
    }

    @Test func quittingWithQStopsCleanlyAndKeepsWhatWasAnswered() throws {
        let output = try study.run(["--count", "5", "--seed", "3"], input: "a\nq\n")
        #expect(output.status == 0)
        #expect(
            output.stdout.hasSuffix(
                "Stopped after 1 of 5. You answered 1, \(output.stdout.contains("Right.") ? "1 right (100%)" : "0 right (0%)"). 'study progress' shows what is due.\n"
            ))
        let history = try #require(try study.json(["history", "--json"]) as? [[String: Any]])
        #expect(history.count == 1)
    }

    @Test func nothingDueSaysWhenTheNextQuestionIsDue() throws {
        let file = try study.write("one.txt", "Only?\n\nyes (Correct)\n\nno\n")
        try study.run(["deck", "import", file])
        try study.run(["--deck", "one", "--seed", "1"], input: "a\nb\n")
        let output = try study.run(["--deck", "one"], input: "")
        #expect(output.stdout.hasPrefix("Nothing is due in one. The next question is due at "))
        #expect(output.status == 0)
    }

    @Test func aKilledQuizLosesOnlyTheQuestionOnScreen() async throws {
        let process = Process()
        process.executableURL = StudyProcess.executable
        process.arguments = ["--count", "5", "--seed", "9"]
        process.environment = study.environment
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        let seen = LockedText()
        stdout.fileHandleForReading.readabilityHandler = { seen.append($0.availableData) }
        try process.run()
        stdin.fileHandleForWriting.write(Data("a\n".utf8))
        // Wait until the second question is on screen: the first answer must be committed by then.
        for _ in 0..<600 where !seen.text.contains("Question 2 of 5") { try await Task.sleep(for: .milliseconds(50)) }
        #expect(seen.text.contains("Question 2 of 5"))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        stdout.fileHandleForReading.readabilityHandler = nil
        #expect(process.terminationReason == .uncaughtSignal)
        let store = try LocalStore(directory: study.home)
        #expect(try store.attempts().count == 1)
    }
}

final class LockedText: @unchecked Sendable {
    // Guarded by `lock`; written from the pipe's reader thread, read from the test.
    private var data = Data()
    private let lock = NSLock()
    func append(_ chunk: Data) { lock.withLock { data.append(chunk) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

@Suite struct DeckCLITests {
    let study = StudyProcess()

    @Test func aDeckWithTheVariationsImportsCorrectly() throws {
        let text =
            "\r\n\r\nQuelle est la capitale du Japon ? 🗾  \r\n\r\n\r\nTōkyō (correct)\r\n\r\nKyōto\r\n---\r\nContext paragraph.\r\n\r\nWhich are even?\r\n\r\n2 (CORRECT)\r\n\r\n3\r\n\r\n4 (Correct)   \r\n\r\n5\r\n\r\n6 (Correct)\r\n\r\n7\r\n\r\n8 (correct)\r\n\r\n9\r\n\r\n10 (Correct)\r\n\r\n11\r\n---\r\n"
        let file = try study.write("variations.deck", text)
        let output = try study.run(["deck", "import", file, "--name", "mixed"])
        #expect(output.stdout == "Imported deck 'mixed' (seed format): 2 questions, 2 new, 0 changed, 0 unchanged.\n")
        let shown = try study.run(["deck", "show", "mixed"]).stdout
        #expect(shown.contains("1. Quelle est la capitale du Japon ? 🗾\n   * A) Tōkyō\n     B) Kyōto\n"))
        #expect(shown.contains("2. Context paragraph.\n\nWhich are even?\n   * A) 2\n     B) 3\n   * C) 4\n"))
        #expect(shown.contains("     J) 11\n"))
    }

    @Test func aBrokenDeckIsRefusedWithLineNumbersAndNothingImported() throws {
        let file = try study.write("broken.txt", "Fine?\n\nyes (Correct)\n\nno\n---\nNo answer?\n\na\n\nb\n---\nLonely?\n")
        let output = try study.run(["deck", "import", file])
        #expect(output.status != 0)
        #expect(output.stderr.contains("line 7: This question has no correct option"))
        #expect(output.stderr.contains("line 13: This question has no options"))
        #expect(try study.run(["deck", "list"]).stdout.contains("broken") == false)
    }

    @Test func aikenImportsAndExportRoundTrips() throws {
        let file = try study.write("moodle.txt", "Which is a fruit?\nA. Carrot\nB. Apple\nANSWER: B\n")
        #expect(
            try study.run(["deck", "import", file]).stdout == "Imported deck 'moodle' (aiken format): 1 questions, 1 new, 0 changed, 0 unchanged.\n")
        for format in ["seed", "aiken", "json"] {
            let exported = try study.run([
                "deck", "export", "ml-deployment", "--format", format, "--output", study.home.appendingPathComponent("out.\(format)").path,
            ])
            #expect(exported.status == 0)
            let reimport = try study.run(["deck", "import", study.home.appendingPathComponent("out.\(format)").path, "--name", "ml-deployment"])
            #expect(reimport.stdout.hasSuffix("21 questions, 0 new, 0 changed, 21 unchanged.\n"), "\(format): \(reimport.stdout)\(reimport.stderr)")
        }
    }

    @Test func errorsAreOneSentenceAndANonZeroStatus() throws {
        let missing = try study.run(["deck", "import", "/nonexistent/deck.txt"])
        #expect(missing.status != 0)
        #expect(missing.stderr == "Error: Cannot read /nonexistent/deck.txt: check that the file exists and is readable.\n")
        let unknown = try study.run(["progress", "--deck", "nope"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr == "Error: There is no deck named 'nope': the decks are: ml-deployment.\n")
    }
}

@Suite struct BackupCLITests {
    let study = StudyProcess()

    /// A full disk (simulated by a file-size limit of zero, so that no write can grow a file) still lets a learner see
    /// their status and history and export their answers; a command that must write says so in a sentence, not as
    /// "SQLite error 13". Nothing is lost: the answers are all there once space is back.
    @Test func readCommandsWorkOnAFullDiskAndWritesSayWhatToDo() throws {
        let study = StudyProcess()
        try study.run(["--count", "3", "--seed", "2"], input: "a\nb\nc\n")
        func full(_ arguments: [String]) throws -> StudyProcess.Output {
            let quoted = ([StudyProcess.executable.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
            return try study.run(shell: "trap '' XFSZ; ulimit -f 0; exec \(quoted)")
        }
        let status = try full(["status"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("Answers waiting to sync: 3."))
        let export = try full(["backup", "export", "-"])
        #expect(export.status == 0 && export.stdout.split(separator: "\n").count == 3, "\(export.stderr)")
        #expect(try full(["history"]).status == 0)
        let quiz = try full(["--count", "1", "--seed", "4"])
        #expect(quiz.status != 0)
        #expect(!quiz.stderr.contains("SQLite error"), "\(quiz.stderr)")
        #expect(quiz.stderr.contains("Nothing was lost") || quiz.stderr.contains("run the command again"), "\(quiz.stderr)")
        #expect(try study.run(["backup", "export", "-"]).stdout.split(separator: "\n").count == 3)
    }

    @Test func backupImportIsIdempotentAndMovesHistoryBetweenHomes() throws {
        try study.run(["--count", "4", "--seed", "2"], input: "a\nb\nc\nd\n")
        let file = study.home.appendingPathComponent("backup.jsonl").path
        #expect(try study.run(["backup", "export", file]).stdout == "Exported 4 attempts to \(file).\n")
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("{\"answeredAt\":"))

        var other = StudyProcess()
        other.now = study.now
        #expect(try other.run(["backup", "import", file]).stdout == "Imported 4 new attempts; 0 were already here.\n")
        #expect(try other.run(["backup", "import", file]).stdout == "Imported 0 new attempts; 4 were already here.\n")
        #expect(try other.run(["progress", "--json", "--questions"]).stdout == study.run(["progress", "--json", "--questions"]).stdout)
    }

    @Test func aBackupWithABadLineIsRefusedWhole() throws {
        try study.run(["--count", "1", "--seed", "2"], input: "a\n")
        let good = try study.run(["backup", "export", "-"]).stdout
        let other = StudyProcess()
        let file = try other.write("bad.jsonl", good + "{\"id\": \"x\"}\n")
        let output = try other.run(["backup", "import", file])
        #expect(output.status != 0)
        #expect(output.stderr.contains("line 2: not an attempt"))
        #expect(try other.run(["history", "--json"]).stdout == "[\n\n]\n")
    }
}
