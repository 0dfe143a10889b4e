import Foundation

/// Where a learner's local store lives: `--home DIR`, else `STUDY_HOME`, else `$XDG_DATA_HOME/studysync`, else
/// `~/.local/share/studysync`.
public enum StudyHome {
    public static func resolve(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let explicit, !explicit.isEmpty { return URL(fileURLWithPath: explicit, isDirectory: true) }
        if let home = environment["STUDY_HOME"], !home.isEmpty { return URL(fileURLWithPath: home, isDirectory: true) }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("studysync", isDirectory: true)
        }
        let user = environment["HOME"].map { URL(fileURLWithPath: $0, isDirectory: true) } ?? FileManager.default.homeDirectoryForCurrentUser
        return user.appendingPathComponent(".local/share/studysync", isDirectory: true)
    }
}
