import StudyCore

// The account and device calls' bodies (PROTOCOL.md, "Accounts and devices"): the server decodes and encodes these,
// the CLI encodes and decodes the same types, and OpenAPIAgreementTests checks them against the OpenAPI document.

/// `POST /v1/accounts`.
public struct RegisterRequest: Codable, Sendable {
    public let username: String
    public let password: String
    public let displayName: String?
    /// A server invite code: needed when the server's registration is by invitation.
    public let inviteCode: String?

    public init(username: String, password: String, displayName: String? = nil, inviteCode: String? = nil) {
        self.username = username
        self.password = password
        self.displayName = displayName
        self.inviteCode = inviteCode
    }
}

/// A user as the API shows one.
public struct UserView: Codable, Sendable {
    public let id: Int64
    public let username: String
    public let displayName: String
    public let role: String

    public init(id: Int64, username: String, displayName: String, role: String) {
        self.id = id
        self.username = username
        self.displayName = displayName
        self.role = role
    }
}

/// `POST /v1/sessions`.
public struct LoginRequest: Codable, Sendable {
    public let username: String
    public let password: String
    public let deviceName: String?
    public let deviceId: String?

    public init(username: String, password: String, deviceName: String? = nil, deviceId: String? = nil) {
        self.username = username
        self.password = password
        self.deviceName = deviceName
        self.deviceId = deviceId
    }
}

/// The answer to a login: the device's token, shown once.
public struct LoginResponse: Codable, Sendable {
    public let token: String
    public let deviceId: String
    public let user: UserView
    public let expiresAt: Int64?

    public init(token: String, deviceId: String, user: UserView, expiresAt: Int64? = nil) {
        self.token = token
        self.deviceId = deviceId
        self.user = user
        self.expiresAt = expiresAt
    }
}

/// One of the caller's devices.
public struct DeviceView: Codable, Sendable {
    public let id: String
    public let name: String
    public let createdAt: Int64
    public let lastSeenAt: Int64?
    public let clockOffsetMs: Int64?
    public let revokedAt: Int64?
    public let current: Bool

    public init(
        id: String, name: String, createdAt: Int64, lastSeenAt: Int64? = nil, clockOffsetMs: Int64? = nil, revokedAt: Int64? = nil, current: Bool
    ) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.clockOffsetMs = clockOffsetMs
        self.revokedAt = revokedAt
        self.current = current
    }
}

/// `GET /v1/devices`.
public struct DeviceList: Codable, Sendable {
    public let devices: [DeviceView]

    public init(devices: [DeviceView]) {
        self.devices = devices
    }
}

/// `GET /v1/meta`: the server's limits and clock.
public struct MetaResponse: Codable, Sendable {
    public let protocolVersion: Int
    public let serverTime: Int64
    public let maxPushPage: Int
    public let maxPullPage: Int
    public let maxBodyBytes: Int
    public let clockToleranceMs: Int64
    /// Who may register: `open`, `invite` or `closed` (absent from servers before it was said).
    public let registration: String?
    /// The request body encodings the server reads (`zstd`); absent or empty: plain JSON only.
    public let contentEncodings: [String]?
    /// The forms of a pushed page the server reads (`attempts`, `attemptRows`, `attemptColumns`); absent: the first two.
    public let pageForms: [String]?
    /// What a sync's answer lists besides attempts when asked (`publishedDecks`, for `listDecks`); absent: nothing.
    public let syncLists: [String]?

    /// The page forms this version reads, as `GET /v1/meta` lists them.
    public static let allPageForms = ["attempts", "attemptRows", "attemptColumns"]
    /// What this version's sync answers list when asked, as `GET /v1/meta` says.
    public static let allSyncLists = ["publishedDecks"]

    public init(
        protocolVersion: Int, serverTime: Int64, maxPushPage: Int, maxPullPage: Int, maxBodyBytes: Int, clockToleranceMs: Int64,
        registration: String? = nil, contentEncodings: [String]? = nil, pageForms: [String]? = nil, syncLists: [String]? = nil
    ) {
        self.protocolVersion = protocolVersion
        self.serverTime = serverTime
        self.maxPushPage = maxPushPage
        self.maxPullPage = maxPullPage
        self.maxBodyBytes = maxBodyBytes
        self.clockToleranceMs = clockToleranceMs
        self.registration = registration
        self.contentEncodings = contentEncodings
        self.pageForms = pageForms
        self.syncLists = syncLists
    }
}

/// `GET /v1/progress`.
public struct ProgressList: Codable, Sendable {
    public let progress: [QuestionProgress]

    public init(progress: [QuestionProgress]) {
        self.progress = progress
    }
}

/// Every error: a code, a sentence saying what to do, and the field at fault when there is one.
public struct ErrorBody: Codable, Sendable {
    public let error: String
    public let message: String
    public let field: String?
    /// The request's id (`X-Request-Id`), which every log line of the request carries: quote it when you report a fault.
    public let requestId: String?

    public init(error: String, message: String, field: String? = nil, requestId: String? = nil) {
        self.error = error
        self.message = message
        self.field = field
        self.requestId = requestId
    }
}

/// An account as an admin sees it (`GET /v1/users`).
public struct UserAdminView: Codable, Sendable {
    public let username: String
    public let displayName: String
    public let role: String
    public let disabled: Bool
    public let attempts: Int64
    public let devices: Int
    public let lastSeenAt: Int64?
    public let createdAt: Int64

    public init(
        username: String, displayName: String, role: String, disabled: Bool, attempts: Int64, devices: Int, lastSeenAt: Int64?, createdAt: Int64
    ) {
        self.username = username
        self.displayName = displayName
        self.role = role
        self.disabled = disabled
        self.attempts = attempts
        self.devices = devices
        self.lastSeenAt = lastSeenAt
        self.createdAt = createdAt
    }
}

/// `GET /v1/users`.
public struct UserAdminList: Codable, Sendable {
    public let users: [UserAdminView]
    public init(users: [UserAdminView]) { self.users = users }
}

/// `PUT /v1/users/{username}/disabled`.
public struct SetDisabledRequest: Codable, Sendable {
    public let disabled: Bool
    public init(disabled: Bool) { self.disabled = disabled }
}

/// `POST /v1/registration-invites`: how many accounts the code registers, within how many days.
public struct RegistrationInviteRequest: Codable, Sendable {
    public let uses: Int?
    public let days: Int?
    public init(uses: Int? = nil, days: Int? = nil) {
        self.uses = uses
        self.days = days
    }
}

/// A registration invite code, shown once.
public struct RegistrationInviteView: Codable, Sendable {
    public let code: String
    public let uses: Int
    public let expiresAt: Int64
    public init(code: String, uses: Int, expiresAt: Int64) {
        self.code = code
        self.uses = uses
        self.expiresAt = expiresAt
    }
}
