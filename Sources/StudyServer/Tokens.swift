import Foundation
import StudyCore

/// Bearer tokens (the learner's id and 256 random bits, base64url) and invite codes (101 bits, letters and digits);
/// only their SHA-256 is stored.
enum Tokens {
    static func generate(bytes count: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return base64url(bytes)
    }

    /// A device's bearer token: the learner's id, a dot, and 256 random bits in base64url (which has no dot). The id
    /// lets a sharded store find the token on the learner's shard (SCALING.md); the hash covers the whole token, so
    /// a token whose id was changed is no token. Clients keep it as an opaque string.
    static func bearer(for userID: Int64) -> String { "\(userID).\(generate())" }

    /// What a bearer token says of its learner, read before any look-up.
    enum Learner: Equatable {
        /// A token of the current form, naming this learner.
        case named(Int64)
        /// A token of the older form (random bits alone, no dot): looked up by its hash.
        case unnamed
        /// A dot but no possible learner before it: no token the server made, refused without a look-up.
        case malformed
    }

    static func learner(of token: String) -> Learner {
        guard let dot = token.firstIndex(of: ".") else { return .unnamed }
        let digits = token[..<dot]
        guard digits.count <= 19, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let id = Int64(digits), id > 0 else { return .malformed }
        return .named(id)
    }

    /// Unpadded base64url (RFC 4648 §5): what a cookie, a header and a URL carry as they are.
    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// An invite code: 17 letters and digits. A person types it after `study team join`, so it never starts with '-'
    /// (one base64url code in 64 did, and the command line took it for an option) and has nothing to escape.
    static func inviteCode() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<17).map { _ in alphabet.randomElement(using: &generator)! })
    }

    static func hash(_ token: String) -> [UInt8] { SHA256.hash(Array(token.utf8)) }
}
