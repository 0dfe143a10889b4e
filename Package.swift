// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "StudySync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "study", targets: ["study"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Pure domain: decks, identity, attempts, FSRS, progress. Foundation only, no I/O.
        .target(name: "StudyCore"),
        // The decks that ship with the product, as package resources, shared by CLI and server.
        .target(name: "StudyDecks", resources: [.copy("Resources/ml-deployment.txt")]),
        // System SQLite for the CLI's local store (apt libsqlite3-dev).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "StudyClient", dependencies: ["StudyCore", "StudyDecks", "CSQLite"]),
        .executableTarget(
            name: "study",
            dependencies: [
                "StudyCore", "StudyClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "StudyCoreTests", dependencies: ["StudyCore", "StudyDecks"], resources: [.copy("Fixtures")]),
        .testTarget(name: "StudyClientTests", dependencies: ["StudyClient", "StudyCore"]),
        .testTarget(name: "StudyCLITests", dependencies: ["study", "StudyClient", "StudyCore"]),
    ],
    swiftLanguageModes: [.v6]
)
