/// A user's role on the server (ARCHITECTURE.md, "Teams"): what they may see and do.
public enum Role: String, Sendable, Codable, CaseIterable {
    case learner, instructor, admin
}
