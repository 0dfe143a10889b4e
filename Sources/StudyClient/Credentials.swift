import Foundation
import StudyCore

#if canImport(Glibc)
    import Glibc
#endif

/// Who this study home is logged in as, where, and with which device token. Kept in the XDG config directory
/// (`$XDG_CONFIG_HOME/studysync`, else `~/.config/studysync`), one file per study home, mode 0600.
public struct Credentials: Codable, Sendable, Equatable {
    public var server: String
    public var username: String
    public var deviceID: String
    public var token: String
    /// The CA certificate file given at login (`--ca-file`), for a server whose certificate a private CA signed.
    public var caFile: String?

    public init(server: String, username: String, deviceID: String, token: String, caFile: String? = nil) {
        self.server = server
        self.username = username
        self.deviceID = deviceID
        self.token = token
        self.caFile = caFile
    }

    /// The credentials file for the study home `home`.
    public static func file(for home: URL, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base: URL
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            base = URL(fileURLWithPath: xdg)
        } else {
            base = URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".config")
        }
        let key = SHA256.hex(home.standardizedFileURL.path).prefix(16)
        return base.appendingPathComponent("studysync/session-\(key).json")
    }

    public static func load(for home: URL) throws -> Credentials? {
        let url = file(for: home)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        do {
            return try JSONDecoder().decode(Credentials.self, from: data)
        } catch {
            throw StoreError("The login file \(url.path) is damaged: delete it and run 'study login' again.")
        }
    }

    /// Writes the file with mode 0600 from the start, so the token is never readable by others.
    public func save(for home: URL) throws {
        let url = Self.file(for: home)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let data = try JSONEncoder().encode(self)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw StoreError("Cannot write the login file in \(url.deletingLastPathComponent().path): check that it is writable.")
        }
        // rename(2) replaces the old file atomically: a crash leaves the old login or the new one, never half of one.
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw StoreError("Cannot save the login file \(url.path): \(String(cString: strerror(errno))).")
        }
    }

    public static func delete(for home: URL) throws {
        let url = file(for: home)
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    }
}
