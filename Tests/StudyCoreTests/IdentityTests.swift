import Testing

@testable import StudyCore

@Suite struct IdentityTests {
    @Test func sha256MatchesTheStandardVectors() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func uuidv7IdsCarryTheirVersionAndSortByTime() {
        var rng = SeededGenerator(seed: 9)
        let ids = (0..<50).map { UUIDv7.make(milliseconds: 1_780_000_000_000 + Int64($0) * 7, using: &rng) }
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { Attempt.isUUID($0) && Array($0)[14] == "7" && "89ab".contains(Array($0)[19]) })
        #expect(ids[0].hasPrefix("019e7044-8800-7"))  // 1_780_000_000_000 ms is 0x019E_7044_8800
        #expect(Set(ids).count == 50)
    }

    @Test func theIdIgnoresWhiteSpaceAndUnicodeComposition() {
        let a = Question(prompt: "What is  the\nanswer?", options: ["x", "y"], correct: [0])
        let b = Question(prompt: "  What is the answer? ", options: ["x", "y"], correct: [0])
        #expect(a.id == b.id)
        let composed = Question(prompt: "Caf\u{E9}?", options: ["x", "y"], correct: [0])
        let decomposed = Question(prompt: "Cafe\u{301}?", options: ["x", "y"], correct: [0])
        #expect(composed.id == decomposed.id)
        #expect(a.id != Question(prompt: "What is the question?", options: ["x", "y"], correct: [0]).id)
    }

    @Test func editingAnOptionOrTheKeyMakesANewVersionOfTheSameQuestion() {
        let original = Question(prompt: "Q?", options: ["Paris", "Lyon"], correct: [0])
        let typoFixed = Question(prompt: "Q?", options: ["Paris", "Lyons"], correct: [0])
        let rekeyed = Question(prompt: "Q?", options: ["Paris", "Lyon"], correct: [1])
        #expect(original.id == typoFixed.id && original.id == rekeyed.id)
        #expect(Set([original.version, typoFixed.version, rekeyed.version]).count == 3)
    }

    @Test func theSameFileGivesTheSameIdsEverywhere() throws {
        // Pinned values: a change here would split every learner's history, so it must be deliberate.
        let q = Question(prompt: "What is 2+2?", options: ["3", "4"], correct: [1])
        #expect(q.id == "q" + SHA256.hex("question-v1\u{1F}What is 2+2?").prefix(16))
        #expect(q.id.count == 17 && q.version.count == 13)
        let deck = Deck(name: "a", questions: [q])
        #expect(deck.id == Deck(name: "b", questions: [q]).id)
    }
}
