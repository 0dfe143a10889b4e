import Foundation
import Hummingbird
import HummingbirdTesting
import StudyAPI
import StudyCore
import StudyServer
import Testing

/// The served OpenAPI document and the wire types (StudyAPI, which the server and the CLI both use) agree field for
/// field, for every endpoint's bodies: a field added, renamed or removed on either side fails here. Each type is encoded with every optional field set, and its JSON keys are compared with the
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
        let request = SyncRequest(
            clientTime: 5, cursor: 0, attempts: [attempt], sessions: [session], pullLimit: 5, resultRuns: true, pullColumns: true, listDecks: true)
        let response = SyncResponse(
            results: [result], attempts: [pulled], cursor: 1, hasMore: false, serverTime: 5, clockOffsetMs: 0, clockWarning: "w",
            publishedDecks: [PublishedDeck(teamID: 1, deckID: "d1", name: "Deck", publishedAt: 5)])
        let runs = try JSONSerialization.jsonObject(with: Data(response.wireJSON(resultRuns: true))) as? [String: Any]
        let run = try #require((runs?["resultRuns"] as? [[String: Any]])?.first)
        let columnsAnswer = try JSONSerialization.jsonObject(with: Data(response.wireJSON(columns: true))) as? [String: Any]
        let columns = try #require(columnsAnswer?["pulledColumns"] as? [String: Any])
        let expected: [(schema: String, fields: Set<String>)] = [
            ("Attempt", try keys(attempt)),
            ("StudySession", try keys(session)),
            ("PushResult", try keys(result)),
            ("PulledAttempt", try keys(pulled)),
            ("SyncRequest", try keys(request).union(["attemptRows", "attemptColumns"])),
            ("SyncResponse", try keys(response).union(["resultRuns", "pulledColumns"])),
            ("AttemptColumns", Set(columns.keys)),
            ("ResultRun", Set(run.keys)),
        ]
        let user = UserView(id: 1, username: "lea", displayName: "Lea", role: "learner")
        let device = DeviceView(id: Self.id, name: "laptop", createdAt: 1, lastSeenAt: 2, clockOffsetMs: 3, revokedAt: 4, current: true)
        let team = TeamView(id: 1, name: "t", timeZone: "UTC", weekStart: 1, createdAt: 1, role: "member")
        let member = TeamMember(userID: 1, username: "lea", displayName: "Lea", role: .member, joinedAt: 1)
        let published = PublishedDeck(teamID: 1, deckID: "d1", name: "n", publishedAt: 1)
        let learner = LearnerReportRow(
            userID: 1, username: "lea", displayName: "Lea", questionsAttempted: 1, attempts: 1, accuracy: 1, mastered: 1, due: 1, streak: 1,
            lastActiveAt: 1, inactive: false)
        let question = QuestionBody(prompt: "p", options: ["a", "b"], correct: [0])
        let row = BoardRowView(rank: 1, userId: 1, displayName: "Lea", points: 1, answered: 1, accuracy: 1, streak: 1, mastered: 1, you: true)
        let admin = UserAdminView(
            username: "lea", displayName: "Lea", role: "learner", disabled: false, attempts: 1, devices: 1, lastSeenAt: 1, createdAt: 1)
        let other: [(schema: String, fields: Set<String>)] = [
            ("Error", try keys(ErrorBody(error: "e", message: "m", field: "f", requestId: "r"))),
            (
                "Meta",
                try keys(
                    MetaResponse(
                        protocolVersion: 1, serverTime: 1, maxPushPage: 1, maxPullPage: 1, maxBodyBytes: 1, clockToleranceMs: 1, registration: "open",
                        contentEncodings: ["zstd"], pageForms: MetaResponse.allPageForms, syncLists: MetaResponse.allSyncLists)
                )
            ),
            ("RegisterRequest", try keys(RegisterRequest(username: "lea", password: "p", displayName: "Lea", inviteCode: "c"))),
            ("User", try keys(user)),
            ("LoginRequest", try keys(LoginRequest(username: "lea", password: "p", deviceName: "d", deviceId: Self.id))),
            ("LoginResponse", try keys(LoginResponse(token: "t", deviceId: Self.id, user: user, expiresAt: 1))),
            ("Device", try keys(device)),
            ("DeviceList", try keys(DeviceList(devices: [device]))),
            ("ProgressList", try keys(ProgressList(progress: []))),
            ("Team", try keys(team)),
            ("TeamList", try keys(TeamList(teams: [team]))),
            ("CreateTeam", try keys(CreateTeamRequest(name: "t", timeZone: "UTC", weekStart: 1))),
            ("JoinTeam", try keys(JoinRequest(code: "c"))),
            ("CreateInvite", try keys(CreateInviteRequest(role: "member", maxUses: 1, expiresInHours: 1))),
            ("Invite", try keys(InviteView(code: "c", teamId: 1, role: "member", maxUses: 1, expiresAt: 1))),
            ("Member", try keys(member)),
            ("MemberList", try keys(MemberList(members: [member]))),
            ("PublishDeck", try keys(PublishDeckRequest(name: "n", questions: [question]))),
            ("PublishedDeck", try keys(published)),
            ("Published", try keys(PublishedView(deck: published))),
            ("DeckList", try keys(DeckList(decks: [published]))),
            ("Deck", try keys(DeckView(id: "d1", name: "n", questions: []))),
            ("Leaderboard", try keys(BoardView(teamId: 1, window: "week", from: "f", until: "u", rows: [row]))),
            ("LearnerReportRow", try keys(learner)),
            ("LearnerReport", try keys(LearnerReportView(teamId: 1, learners: [learner]))),
            ("LearnerDetail", try keys(LearnerDetailView(teamId: 1, learner: learner, weakQuestions: [], recent: []))),
            ("QuestionReport", try keys(QuestionReportView(teamId: 1, attempts: "first", questions: []))),
            ("Visibility", try keys(VisibilityBody(optOut: true))),
            ("SetRole", try keys(SetRoleRequest(role: "admin"))),
            ("RoleChange", try keys(RoleView(username: "lea", role: "admin"))),
            ("UserAdmin", try keys(admin)),
            ("UserAdminList", try keys(UserAdminList(users: [admin]))),
            ("SetDisabled", try keys(SetDisabledRequest(disabled: true))),
            ("RegistrationInviteRequest", try keys(RegistrationInviteRequest(uses: 1, days: 1))),
            ("RegistrationInvite", try keys(RegistrationInviteView(code: "c", uses: 1, expiresAt: 1))),
        ]
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.router) { client in
            let spec = try await client.json(.get, "/v1/openapi.json").body
            let schemas = try #require((spec["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
            for (schema, fields) in expected + other {
                let documented = Set((schemas[schema]?["properties"] as? [String: Any] ?? [:]).keys)
                #expect(
                    documented == fields,
                    "\(schema): the document names \(documented.subtracting(fields).sorted()) that the type lacks, and lacks \(fields.subtracting(documented).sorted())"
                )
            }
        }
    }
}
