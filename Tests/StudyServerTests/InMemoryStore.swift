import Foundation
import StudyCore
import StudyServer
import StudyStorage

/// Every storage port the routes use, kept in memory: what `buildRouter` needs to run the permission matrix without a
/// database. It keeps who is who, teams, invites, decks and attempts faithfully (those decide who may call what) and
/// answers the boards and reports with rows whose numbers are not worked out (zeros); the numbers, the push path's
/// invariants and everything else of the store are tested against PostgreSQL only.
actor InMemoryStore: UserRepository, DeviceRepository, AttemptRepository, ProgressRepository, DeckRepository, SessionRepository, TeamRepository,
    ReadinessCheck, AccountAdministration, DashboardRepository
{
    private var users: [UserRecord] = []
    private var devices: [String: DeviceRecord] = [:]
    private var tokens: [[UInt8]: (deviceID: String, expiresAt: Int64?, revoked: Bool)] = [:]
    private var attempts: [Int64: [StoredAttempt]] = [:]
    private var attemptOwners: [String: Int64] = [:]
    private var decks: [String: Deck] = [:]
    private var teams: [TeamRecord] = []
    private var memberships: [Int64: [Int64: (role: TeamRole, joinedAt: Int64)]] = [:]
    private var invites: [[UInt8]: (teamID: Int64, role: TeamRole, usesLeft: Int, expiresAt: Int64)] = [:]
    private var published: [PublishedDeck] = []
    private var webSessions: [[UInt8]: (userID: Int64, expiresAt: Int64, revoked: Bool)] = [:]

    func checkReachable() async throws -> String { "memory" }

    // MARK: users and devices

    func createUser(username: String, displayName: String, passwordHash: String, role: Role, at time: Int64) async throws -> UserRecord? {
        guard !users.contains(where: { $0.username == username }) else { return nil }
        let user = UserRecord(
            id: Int64(users.count + 1), username: username, displayName: displayName, passwordHash: passwordHash, role: role, createdAt: time)
        users.append(user)
        return user
    }

    func createAccount(username: String, displayName: String, passwordHash: String, inviteCodeHash: [UInt8]?, at time: Int64) async throws
        -> AccountOutcome
    {
        guard inviteCodeHash == nil else { return .inviteRefused }  // the matrix runs with open registration
        let user = try await createUser(
            username: username, displayName: displayName, passwordHash: passwordHash, role: users.isEmpty ? .admin : .learner, at: time)
        return user.map { .created($0) } ?? .usernameTaken
    }

    func setRole(username: String, role: Role) async throws -> UserRecord? {
        guard let i = users.firstIndex(where: { $0.username == username }) else { return nil }
        let u = users[i]
        users[i] = UserRecord(
            id: u.id, username: u.username, displayName: u.displayName, passwordHash: u.passwordHash, role: role, createdAt: u.createdAt)
        return users[i]
    }

    func user(named username: String) async throws -> UserRecord? { users.first { $0.username == username } }
    func user(id: Int64) async throws -> UserRecord? { users.first { $0.id == id } }

    func registerDevice(id: String, userID: Int64, name: String, tokenHash: [UInt8], expiresAt: Int64?, at time: Int64) async throws -> DeviceRecord {
        if let existing = devices[id], existing.userID != userID { throw RepositoryConflict.deviceOwnedByAnotherUser }
        let device =
            devices[id]
            ?? DeviceRecord(id: id, userID: userID, name: name, createdAt: time, lastSeenAt: nil, clockOffsetMs: nil, revokedAt: nil)
        devices[id] = device
        tokens[tokenHash] = (id, expiresAt, false)
        return device
    }

    func devices(userID: Int64) async throws -> [DeviceRecord] {
        devices.values.filter { $0.userID == userID && $0.revokedAt == nil }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    func revokeDevice(id: String, userID: Int64, at time: Int64) async throws -> Bool {
        guard let d = devices[id], d.userID == userID, d.revokedAt == nil else { return false }
        devices[id] = DeviceRecord(
            id: d.id, userID: d.userID, name: d.name, createdAt: d.createdAt, lastSeenAt: d.lastSeenAt, clockOffsetMs: d.clockOffsetMs,
            revokedAt: time)
        return true
    }

    func authenticate(tokenHash: [UInt8], userID: Int64?, at time: Int64) async throws -> (UserRecord, DeviceRecord)? {
        guard let token = tokens[tokenHash], !token.revoked, token.expiresAt.map({ $0 > time }) ?? true,
            let device = devices[token.deviceID], device.revokedAt == nil, userID.map({ $0 == device.userID }) ?? true,
            let user = users.first(where: { $0.id == device.userID })
        else { return nil }
        return (user, device)
    }

    func revokeToken(hash: [UInt8], userID: Int64, at time: Int64) async throws {
        guard let token = tokens[hash], devices[token.deviceID]?.userID == userID else { return }
        tokens[hash]?.revoked = true
    }

    func recordSync(deviceID: String, userID: Int64, clockOffsetMs: Int64, at time: Int64) async throws {
        guard let d = devices[deviceID], d.userID == userID else { return }
        devices[deviceID] = DeviceRecord(
            id: d.id, userID: d.userID, name: d.name, createdAt: d.createdAt, lastSeenAt: time, clockOffsetMs: clockOffsetMs, revokedAt: d.revokedAt)
    }

    // MARK: attempts, progress, decks, sessions

    func insert(
        _ page: [Attempt], flags: [AttemptFlags], sessions: [StudySession], deviceID: String, userID: Int64, receivedAt: Int64
    ) async throws -> [PushOutcome] {
        try await storeSessions(sessions, userID: userID, deviceID: deviceID)
        return try await insert(page, flags: flags, userID: userID, receivedAt: receivedAt)
    }

    func insert(_ page: [Attempt], flags: [AttemptFlags], userID: Int64, receivedAt: Int64) async throws -> [PushOutcome] {
        page.indices.map { i in
            let attempt = page[i]
            if let problem = attempt.check().problems.first { return .rejected(reason: problem) }
            if let owner = attemptOwners[attempt.id] {
                guard owner == userID else { return .rejected(reason: "this id is already used by an attempt that is not yours") }
                let stored = attempts[userID, default: []].first { $0.attempt.id == attempt.id }!
                return stored.attempt == attempt ? .duplicate(seq: stored.seq, ahead: stored.flags.contains(.ahead)) : .conflict
            }
            let seq = Int64(attempts[userID, default: []].count + 1)
            attempts[userID, default: []].append(StoredAttempt(seq: seq, attempt: attempt, flags: flags[i]))
            attemptOwners[attempt.id] = userID
            return .inserted(seq: seq)
        }
    }

    func pull(userID: Int64, after cursor: Int64, limit: Int, excludingDevice: String?) async throws -> PullPage {
        let later = attempts[userID, default: []].filter { $0.seq > cursor }
        let page = Array(later.filter { $0.attempt.deviceID != excludingDevice }.prefix(max(limit, 0)))
        let hasMore = later.count > 0 && (page.last?.seq ?? cursor) < later.last!.seq && limit > 0 && page.count == limit
        return PullPage(attempts: page, cursor: hasMore ? page.last!.seq : max(cursor, later.last?.seq ?? cursor), hasMore: hasMore)
    }

    func latestSequence(userID: Int64) async throws -> Int64 { Int64(attempts[userID]?.count ?? 0) }

    func refreshProgress(userID: Int64, questionIDs: Set<String>, at time: Int64) async throws {}
    func recordProgress(userID: Int64, newAttempts: [Attempt], at time: Int64) async throws {}

    func progress(userID: Int64) async throws -> [QuestionProgress] {
        Array(Progress.foldAll(attempts[userID, default: []].filter { !$0.flags.contains(.ahead) }.map(\.attempt)).values)
    }

    func storeDeck(_ deck: Deck, at time: Int64) async throws { decks[deck.id] = deck }

    func questions(forKeys keys: Set<String>) async throws -> [String: Question] {
        var found: [String: Question] = [:]
        for deck in decks.values {
            for q in deck.questions where keys.contains(AttemptReview.key(q.id, q.version)) { found[AttemptReview.key(q.id, q.version)] = q }
        }
        return found
    }

    func storeSessions(_ sessions: [StudySession], userID: Int64, deviceID: String) async throws {}

    // MARK: teams

    func createTeam(name: String, timeZone: String, weekStart: Int, creatorID: Int64, bundledDeckIDs: [String], at time: Int64) async throws
        -> TeamRecord
    {
        let team = TeamRecord(id: Int64(teams.count + 1), name: name, timeZone: timeZone, weekStart: weekStart, createdAt: time)
        teams.append(team)
        memberships[team.id] = [creatorID: (.instructor, time)]
        for id in bundledDeckIDs { if let deck = decks[id] { try await publishDeck(deck, teamID: team.id, by: creatorID, at: time) } }
        return team
    }

    func team(id: Int64, roleOf userID: Int64) async throws -> (team: TeamRecord, role: TeamRole?)? {
        teams.first { $0.id == id }.map { ($0, memberships[$0.id]?[userID]?.role) }
    }

    func teams(userID: Int64, all: Bool) async throws -> [(team: TeamRecord, role: TeamRole?)] {
        teams.compactMap { team in
            let role = memberships[team.id]?[userID]?.role
            return all || role != nil ? (team, role) : nil
        }
    }

    func isKnownTimeZone(_ name: String) async throws -> Bool { TimeZone(identifier: name) != nil }

    func createInvite(codeHash: [UInt8], teamID: Int64, role: TeamRole, maxUses: Int, expiresAt: Int64, createdBy: Int64, at time: Int64) async throws
    {
        invites[codeHash] = (teamID, role, maxUses, expiresAt)
    }

    func join(codeHash: [UInt8], userID: Int64, at time: Int64) async throws -> JoinOutcome {
        guard let invite = invites[codeHash], let team = teams.first(where: { $0.id == invite.teamID }) else { return .unknownCode }
        if let role = memberships[team.id]?[userID]?.role { return .alreadyMember(team, role) }
        guard invite.expiresAt > time else { return .expired }
        guard invite.usesLeft > 0 else { return .usedUp }
        invites[codeHash]?.usesLeft -= 1
        memberships[team.id, default: [:]][userID] = (invite.role, time)
        return .joined(team, invite.role)
    }

    func leave(teamID: Int64, userID: Int64) async throws -> Bool { memberships[teamID]?.removeValue(forKey: userID) != nil }

    func members(teamID: Int64) async throws -> [TeamMember] {
        users.compactMap { user in
            memberships[teamID]?[user.id].map {
                TeamMember(userID: user.id, username: user.username, displayName: user.displayName, role: $0.role, joinedAt: $0.joinedAt)
            }
        }
    }

    func setLeaderboardOptOut(userID: Int64, optOut: Bool) async throws {}

    func leaderboard(teamID: Int64, window: LeaderboardWindow, offset: Int, callerID: Int64, showEveryone: Bool, limit: Int, at time: Int64)
        async throws -> Leaderboard
    {
        let rows = try await members(teamID: teamID).filter { $0.role == .member }.prefix(limit).map {
            LeaderboardRow(
                rank: 1, userID: $0.userID, displayName: $0.displayName, points: 0, answered: 0, correct: 0, streak: 0, mastered: 0,
                isCaller: $0.userID == callerID)
        }
        return Leaderboard(window: window, from: nil, until: nil, rows: Array(rows))
    }

    func learnerReport(teamID: Int64, userID: Int64?, at time: Int64) async throws -> [LearnerReportRow] {
        try await members(teamID: teamID).filter { $0.role == .member && (userID == nil || $0.userID == userID) }.map {
            LearnerReportRow(
                userID: $0.userID, username: $0.username, displayName: $0.displayName, questionsAttempted: 0, attempts: 0, accuracy: nil, mastered: 0,
                due: 0, streak: 0, lastActiveAt: nil, inactive: true)
        }
    }

    func questionReport(teamID: Int64, deckID: String?, firstAttemptsOnly: Bool) async throws -> [QuestionReportRow] { [] }
    func weakQuestions(userID: Int64, limit: Int) async throws -> [WeakQuestion] { [] }

    func recentAttempts(userID: Int64, limit: Int) async throws -> [StoredAttempt] {
        Array(attempts[userID, default: []].suffix(limit).reversed())
    }

    func publishDeck(_ deck: Deck, teamID: Int64, by userID: Int64, at time: Int64) async throws {
        decks[deck.id] = deck
        published.removeAll { $0.teamID == teamID && $0.deckID == deck.id }
        published.append(PublishedDeck(teamID: teamID, deckID: deck.id, name: deck.name, publishedAt: time))
    }

    func publishedDecks(userID: Int64) async throws -> [PublishedDeck] {
        published.filter { memberships[$0.teamID]?[userID] != nil }
    }

    func deck(id: String) async throws -> Deck? { decks[id] }

    // MARK: administration

    func userSummaries() async throws -> [UserSummary] {
        users.sorted { $0.username < $1.username }.map { user in
            UserSummary(
                user: user, attempts: Int64(attempts[user.id]?.count ?? 0),
                devices: devices.values.count { $0.userID == user.id && $0.revokedAt == nil },
                lastSeenAt: devices.values.filter { $0.userID == user.id }.compactMap(\.lastSeenAt).max())
        }
    }

    func setDisabled(username: String, _ disabled: Bool, at time: Int64) async throws -> UserRecord? {
        guard let i = users.firstIndex(where: { $0.username == username }) else { return nil }
        let u = users[i]
        users[i] = UserRecord(
            id: u.id, username: u.username, displayName: u.displayName, passwordHash: u.passwordHash, role: u.role, createdAt: u.createdAt,
            disabledAt: disabled ? (u.disabledAt ?? time) : nil)
        if disabled { for (hash, token) in tokens where devices[token.deviceID]?.userID == u.id { tokens[hash]?.revoked = true } }
        return users[i]
    }

    func setPasswordHash(username: String, _ hash: String, at time: Int64) async throws -> UserRecord? { nil }

    func deleteUser(username: String) async throws -> Bool {
        guard let user = users.first(where: { $0.username == username }) else { return false }
        users.removeAll { $0.id == user.id }
        for team in memberships.keys { memberships[team]?[user.id] = nil }
        attempts[user.id] = nil
        return true
    }

    func createServerInvite(codeHash: [UInt8], maxUses: Int, expiresAt: Int64, createdBy: Int64?, at time: Int64) async throws {}

    // MARK: the dashboard's sessions

    func createWebSession(tokenHash: [UInt8], userID: Int64, expiresAt: Int64, at time: Int64) async throws {
        webSessions[tokenHash] = (userID, expiresAt, false)
    }

    func webSessionUser(tokenHash: [UInt8], at time: Int64) async throws -> UserRecord? {
        guard let session = webSessions[tokenHash], !session.revoked, session.expiresAt > time else { return nil }
        return users.first { $0.id == session.userID && $0.disabledAt == nil }
    }

    func revokeWebSession(tokenHash: [UInt8], at time: Int64) async throws { webSessions[tokenHash]?.revoked = true }

    func revokeWebSessions(userID: Int64, at time: Int64) async throws {
        for (hash, session) in webSessions where session.userID == userID { webSessions[hash]?.revoked = true }
    }

    func answersByDay(userID: Int64, timeZone: String, from: Int64, until: Int64) async throws -> [DailyAnswers] { [] }

    func teamWeeks(team: TeamRecord, fromWeek: String) async throws -> [TeamWeek] { [] }
}
