import Foundation
import StudyCore

/// Bearer tokens (256 random bits, base64url) and invite codes (101 bits, letters and digits); only their SHA-256 is
/// stored.
enum Tokens {
    static func generate(bytes count: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return base64url(bytes)
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
