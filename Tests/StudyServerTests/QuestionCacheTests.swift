import StudyCore
import StudyDecks
import Testing

@testable import StudyServer

/// The sync route's cache of question versions: what it is given at start is known without a look-up in the store.
@Suite struct QuestionCacheTests {
    @Test func theQuestionsGivenAtStartAreKnownWithoutALookUp() async throws {
        let source = try #require(try BundledDecks.all().first)
        let deck = try SeedFormat.parse(source.text, name: source.name)
        let keys = Set(deck.questions.map { AttemptReview.key($0.id, $0.version) })
        // A store that knows no deck: only the cache can answer.
        let store = InMemoryStore()
        #expect(try await QuestionCache().lookUp(keys, in: store).isEmpty)
        let found = try await QuestionCache(knowing: deck.questions).lookUp(keys, in: store)
        #expect(found.count == deck.questions.count)
        for question in deck.questions { #expect(found[AttemptReview.key(question.id, question.version)] == question) }
        // Asked for fewer, it gives those alone.
        let one = try #require(keys.first)
        #expect(try await QuestionCache(knowing: deck.questions).lookUp([one], in: store).keys.sorted() == [one])
    }
}
