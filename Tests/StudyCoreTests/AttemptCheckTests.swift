import Testing

@testable import StudyCore

/// What the server checks on every pushed attempt before storing it: the problems a learner is told, and whether its
/// ids need lower-casing. The UUID reader is compared with a plain restatement of the 8-4-4-4-12 form on random strings.
struct AttemptCheckTests {
    static let id = "0190a3c4-1111-7000-8000-00000000abcd"

    static func attempt(
        id: String = id, device: String = id, session: String = id, question: String = "q", chosen: [Int] = [1],
        answeredAt: Int64 = 5, durationMs: Int64 = 1_000
    ) -> Attempt {
        Attempt(
            id: id, deviceID: device, questionID: question, questionVersion: "v", chosen: chosen, correct: true, answeredAt: answeredAt,
            durationMs: durationMs, sessionID: session)
    }

    @Test func aWellFormedAttemptHasNoProblems() {
        #expect(Self.attempt().check() == ([], true))
        #expect(Self.attempt(device: Self.id.uppercased()).check() == ([], false))
        #expect(Self.attempt(session: "0190A3C4-1111-7000-8000-00000000abcd").check() == ([], false))
    }

    @Test func eachProblemIsNamed() {
        #expect(Self.attempt(id: "x").problems == ["id must be a UUID"])
        #expect(Self.attempt(device: Self.id + "0").problems == ["deviceId must be a UUID"])
        #expect(Self.attempt(session: "0190a3c4-1111-7000-8000_00000000abcd").problems == ["sessionId must be a UUID"])
        let identifier = "questionId and questionVersion must be 1 to 64 letters, digits, '-' or '_'"
        #expect(Self.attempt(question: "").problems == [identifier])
        #expect(Self.attempt(question: "q\u{0}x").problems == [identifier])
        #expect(Self.attempt(question: String(repeating: "q", count: 65)).problems == [identifier])
        #expect(Self.attempt(question: String(repeating: "q", count: 64)).problems == [])
        #expect(Self.attempt(question: "q é").problems == [identifier])
        #expect(Self.attempt(chosen: []).problems == ["chosen must list option indexes from 0 to 9"])
        #expect(Self.attempt(chosen: [10]).problems == ["chosen must list option indexes from 0 to 9"])
        let time = "answeredAt must be epoch milliseconds from 0 to 253402300799999"
        #expect(Self.attempt(answeredAt: -1).problems == [time])
        #expect(Self.attempt(answeredAt: .max).problems == [time])
        #expect(Self.attempt(answeredAt: AttemptRules.latestTime + 1).problems == [time])
        #expect(Self.attempt(answeredAt: AttemptRules.latestTime).problems == [])
        let duration = "durationMs must be from 0 to 86400000 (a day)"
        #expect(Self.attempt(durationMs: -1).problems == [duration])
        #expect(Self.attempt(durationMs: .max).problems == [duration])
        #expect(Self.attempt(durationMs: 86_400_000).problems == [])
        let both = Self.attempt(id: "x", device: Self.id.uppercased(), durationMs: -1).check()
        #expect(both.problems == ["id must be a UUID", duration] && !both.lowercaseIDs)
    }

    @Test func textRulesRefuseControlCharactersAndLength() {
        #expect(TextRule.problem("Lea", field: "displayName", characters: 1...64) == nil)
        #expect(TextRule.problem("Léa 🎓", field: "displayName", characters: 1...64) == nil)
        #expect(TextRule.problem("", field: "displayName", characters: 1...64) == "displayName must be 1 to 64 characters.")
        #expect(
            TextRule.problem(String(repeating: "x", count: 65), field: "displayName", characters: 1...64) == "displayName must be 1 to 64 characters."
        )
        #expect(
            TextRule.problem("lea\u{0}x", field: "displayName", characters: 1...64)
                == "displayName must not hold control characters (it holds U+0000).")
        #expect(TextRule.problem("a\nb", field: "name", characters: 1...64) == "name must not hold control characters (it holds U+000A).")
        #expect(TextRule.problem("a\nb\tc", field: "prompt", characters: 1...64, multiline: true) == nil)
        #expect(TextRule.problem("a\u{7}b", field: "prompt", characters: 1...64, multiline: true)?.contains("U+0007") == true)
    }

    @Test func theUUIDReaderAgreesWithThePlainRule() {
        func plain(_ s: String) -> Attempt.UUIDForm {
            let characters = Array(s.unicodeScalars)
            guard characters.count == 36 else { return .invalid }
            for (i, c) in characters.enumerated() {
                if [8, 13, 18, 23].contains(i) {
                    if c != "-" { return .invalid }
                } else if !("0"..."9").contains(c) && !("a"..."f").contains(c)
                    && !("A"..."F").contains(c)
                {
                    return .invalid
                }
            }
            return characters.contains { ("A"..."F").contains($0) } ? .mixedCase : .lowercase
        }
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("0123456789abcdefABCDEFgG-é".unicodeScalars)
        var kinds: [Attempt.UUIDForm: Int] = [:]
        for _ in 0..<5_000 {
            // Mostly near-UUIDs: a valid one with one or two characters changed, or a length off by one.
            var characters = Array((Bool.random(using: &rng) ? Self.id : Self.id.uppercased()).unicodeScalars)
            for _ in 0..<Int.random(in: 0...2, using: &rng) {
                characters[Int.random(in: 0..<36, using: &rng)] = alphabet.randomElement(using: &rng)!
            }
            if Int.random(in: 0..<10, using: &rng) == 0 { characters.removeLast() }
            if Int.random(in: 0..<10, using: &rng) == 0 { characters.append("0") }
            var text = ""
            text.unicodeScalars.append(contentsOf: characters)
            let form = Attempt.uuidForm(text)
            #expect(form == plain(text), "\(text)")
            kinds[form, default: 0] += 1
        }
        // The random strings reach every answer.
        #expect(kinds.count == 3 && kinds.values.allSatisfy { $0 > 100 })
    }
}
