import Foundation

/// The decks that ship with StudySync, read from the package's resources.
public enum BundledDecks {
    public struct Source: Sendable {
        public let name: String
        /// The deck file's text, in the seed format.
        public let text: String
    }

    /// Every bundled deck. Throws only when the resource bundle is missing from the installation.
    public static func all() throws -> [Source] {
        guard let url = Bundle.module.url(forResource: "ml-deployment", withExtension: "txt") else {
            throw CocoaError(
                .fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "The bundled deck ml-deployment.txt is missing from the installation."])
        }
        return [Source(name: "ml-deployment", text: try String(contentsOf: url, encoding: .utf8))]
    }
}
