// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "StudySync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "study", targets: ["study"]),
        .executable(name: "study-server", targets: ["study-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
    ],
    targets: [
        // Pure domain: decks, identity, attempts, FSRS, progress. Foundation only, no I/O.
        .target(name: "StudyCore"),
        // The wire contract: the sync messages and their JSON codec, shared by the CLI and the server (PROTOCOL.md).
        .target(name: "StudyAPI", dependencies: ["StudyCore", "CZstd"]),
        // zstd through the system's libzstd.so.1, opened at run time: no headers are needed to build (ContentCoding).
        .target(name: "CZstd", linkerSettings: [.linkedLibrary("dl")]),
        // The server's storage ports: the records and repository protocols its handlers are generic over.
        .target(name: "StudyStorage", dependencies: ["StudyCore"]),
        // The decks that ship with the product, as package resources, shared by CLI and server.
        .target(name: "StudyDecks", resources: [.copy("Resources/ml-deployment.txt")]),
        // System SQLite for the CLI's local store (apt libsqlite3-dev).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "StudyClient",
            dependencies: [
                "StudyCore", "StudyAPI", "StudyDecks", "CSQLite", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // libpq, PostgreSQL's C client (apt libpq-dev), and the safe wrapper that nothing above it gets around.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(
            name: "LibPQ",
            dependencies: [
                "CLibPQ",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The private PostgreSQL: a cluster of its own, created, started, supervised and stopped (the server's embedded
        // default and the tests' throwaway clusters).
        .target(name: "EmbeddedPostgres", dependencies: ["LibPQ", .product(name: "Logging", package: "swift-log")]),
        // A private PostgreSQL and a fresh database per test; used only by test targets.
        .target(name: "PostgresTestSupport", dependencies: ["LibPQ", "EmbeddedPostgres"]),
        .target(
            name: "StudyPostgres",
            dependencies: [
                "StudyCore", "StudyStorage", "LibPQ", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [.copy("SQL")]
        ),
        // The HTTP API as a library: buildApplication(configuration) is the one composition root, used by main and tests.
        .target(
            name: "StudyServer",
            dependencies: [
                "StudyCore", "StudyAPI", "StudyStorage", "StudyPostgres", "StudyDecks", "LibPQ", "EmbeddedPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            resources: [.copy("openapi.json"), .copy("Dashboard")]
        ),
        // glibc's mallopt, for the server's arena cap (study-server/StudyServerCommand.swift).
        .systemLibrary(name: "CMalloc"),
        .executableTarget(
            name: "study-server",
            dependencies: [
                "StudyServer", "StudyCore", "StudyStorage", "StudyAPI", "CMalloc", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The sync benchmark: drives the real protocol over loopback against a study-server process (not a test).
        .executableTarget(
            name: "studysync-bench", dependencies: ["StudyClient", "StudyCore", "StudyAPI", "StudyPostgres", "LibPQ", "EmbeddedPostgres"]),
        .executableTarget(
            name: "study",
            dependencies: [
                "StudyCore", "StudyAPI", "StudyClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "StudyCoreTests", dependencies: ["StudyCore", "StudyDecks"], resources: [.copy("Fixtures")]),
        .testTarget(name: "StudyClientTests", dependencies: ["StudyClient", "StudyCore", "StudyAPI"]),
        .testTarget(name: "StudyAPITests", dependencies: ["StudyAPI", "StudyCore"]),
        .testTarget(name: "LibPQTests", dependencies: ["LibPQ", "PostgresTestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "EmbeddedPostgresTests", dependencies: ["EmbeddedPostgres", "LibPQ", "PostgresTestSupport"]),
        .testTarget(name: "StudyPostgresTests", dependencies: ["StudyPostgres", "LibPQ", "PostgresTestSupport", "StudyCore", "StudyStorage"]),
        .testTarget(
            name: "StudyServerTests",
            dependencies: [
                "StudyServer", "StudyClient", "StudyCore", "StudyAPI", "StudyDecks", "StudyPostgres", "PostgresTestSupport", "LibPQ", "study",
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "StudyCLITests", dependencies: ["study", "StudyClient", "StudyCore", "StudyAPI"]),
    ],
    swiftLanguageModes: [.v6]
)
