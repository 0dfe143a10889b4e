import Foundation

/// The wall clock, in epoch milliseconds. `STUDY_NOW` pins it (epoch milliseconds), so scripted sessions and tests are reproducible.
public enum Clock {
    public static func nowMs() -> Int64 {
        // getenv reads the one variable; `ProcessInfo.environment` copies the whole environment into a dictionary on
        // every call (a sixth of the CLI's CPU in a sync with nothing new, which reads the clock for each request).
        if let pinned = getenv("STUDY_NOW"), let value = Int64(String(cString: pinned)) { return value }
        return Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
