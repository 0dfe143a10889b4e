import Foundation
import Hummingbird
import HummingbirdTesting
import StudyAPI
import StudyCore
import StudyServer
import Testing

/// The served OpenAPI document and the wire types agree field for field: a field added, renamed or removed on either
/// side fails here. Each type is encoded with every optional field set, and its JSON keys are compared with the
/// schema's properties; the forms the Codable encoding does not write (the page as rows, the results as runs) are named.
struct OpenAPIAgreementTests {
    static let id = "0190a3c4-1111-7000-8000-00000000abcd"

    func keys(_ value: some Encodable) throws -> Set<String> {
        Set((try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)) as? [String: Any] ?? [:]).keys)
    }

    @Test func theWireTypesHaveExactlyTheFieldsTheDocumentNames() async throws {
        let attempt = Attempt(
            id: Self.id, deviceID: Self.id, questionID: "q1", questionVersion: "v1", chosen: [1], correct: true, answeredAt: 5, durationMs: 5,
            sessionID: Self.id)
        let session = StudySession(id: Self.id, deckId: "d1", startedAt: 5)
        let result = PushResult(id: Self.id, status: .inserted, seq: 1, reason: "r", ahead: true)
        let pulled = PulledAttempt(seq: 1, attempt: attempt, flags: 0)
        let request = SyncRequest(clientTime: 5, cursor: 0, attempts: [attempt], sessions: [session], pullLimit: 5, resultRuns: true)
        let response = SyncResponse(
            results: [result], attempts: [pulled], cursor: 1, hasMore: false, serverTime: 5, clockOffsetMs: 0, clockWarning: "w")
        let runs = try JSONSerialization.jsonObject(with: Data(response.wireJSON(resultRuns: true))) as? [String: Any]
        let run = try #require((runs?["resultRuns"] as? [[String: Any]])?.first)
        let expected: [(schema: String, fields: Set<String>)] = [
            ("Attempt", try keys(attempt)),
            ("StudySession", try keys(session)),
            ("PushResult", try keys(result)),
            ("PulledAttempt", try keys(pulled)),
            ("SyncRequest", try keys(request).union(["attemptRows"])),
            ("SyncResponse", try keys(response).union(["resultRuns"])),
            ("ResultRun", Set(run.keys)),
        ]
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let spec = try await client.json(.get, "/v1/openapi.json").body
            let schemas = try #require((spec["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
            for (schema, fields) in expected {
                let documented = Set((schemas[schema]?["properties"] as? [String: Any] ?? [:]).keys)
                #expect(
                    documented == fields,
                    "\(schema): the document names \(documented.subtracting(fields).sorted()) that the type lacks, and lacks \(fields.subtracting(documented).sorted())"
                )
            }
            // Every error the server sends has the fields the document's Error names.
            let error = try await client.json(.get, "/v1/nowhere").body
            let documented = Set((schemas["Error"]?["properties"] as? [String: Any] ?? [:]).keys)
            #expect(Set(error.keys).isSubset(of: documented) && documented.isSuperset(of: ["error", "message", "field"]))
        }
    }
}
