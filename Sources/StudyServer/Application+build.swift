import EmbeddedPostgres
import Foundation
import Hummingbird
import HummingbirdBcrypt
import LibPQ
import Logging
import NIOPosix
import ServiceLifecycle
import StudyCore
import StudyDecks
import StudyPostgres
import StudyStorage

/// The one composition root: `study-server`'s main and the tests both call this.
///
/// It reaches PostgreSQL (the URL given, or the embedded private cluster, started here), applies the migrations,
/// makes the bundled deck known to the server, and wires the routes over the PostgreSQL repositories.
public func buildApplication(
    _ configuration: ServerConfiguration, clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "study-server")
    logger.logLevel = configuration.logLevel

    let embedded: LocalPostgres?
    let database: PostgresConfiguration
    switch configuration.database {
    case .url(let url):
        embedded = nil
        database = PostgresConfiguration(url: url)
    case .embedded(let directory):
        let server = try LocalPostgres.startSupervised(dataDirectory: directory, logger: logger)
        logger.notice("using the private PostgreSQL; set DATABASE_URL to use your own", metadata: ["postgres.data": "\(directory.path)"])
        embedded = server
        database = server.configuration
    }
    let pool = PostgresPool(configuration: database, size: configuration.poolSize, logger: logger)
    let readPool = configuration.readDatabaseURL.map {
        PostgresPool(
            configuration: PostgresConfiguration(url: $0), size: configuration.poolSize, waitTimeout: .seconds(2), logger: logger, name: "read")
    }
    let store = PostgresStore(pool: pool, readPool: readPool, maxReadLagMs: configuration.maxReadLagMs)
    var bundledDeckIDs: [String] = []
    var bundledQuestions: [Question] = []
    let router: Router<AppContext>
    do {
        switch configuration.migrations {
        case .apply:
            try await ServerOperations.migrate(pool: pool, store: store, logger: logger, at: clock())
        case .requireCurrent:
            let pending = try await MigrationRunner(pool: pool, logger: logger).pending(try Migration.bundled())
            guard pending.isEmpty else {
                throw OperationError(
                    "The database lacks \(pending.count == 1 ? "migration" : "migrations") \(pending.joined(separator: ", ")), and --no-migrate "
                        + "forbids applying them: run 'study-server migrate' once, then start the servers.")
            }
        }
        // One PostgreSQL or a Citus coordinator: the same server serves both (SCALING.md).
        let topology = try await store.topology()
        logger.notice("the database is \(topology)", metadata: ["database": "\(topology.name)"])
        for source in try BundledDecks.all() {
            let deck = try SeedFormat.parse(source.text, name: source.name)
            try await store.storeDeck(deck, at: clock())
            bundledDeckIDs.append(deck.id)
            bundledQuestions += deck.questions
        }
        // The pool's connections opened and readied now, not by the first requests. When that fails or takes over
        // 10 s (PostgreSQL takes no more connections; a pooler in between makes the later ones wait for the earlier),
        // the server starts anyway, and connections open as requests need them.
        if configuration.opensConnectionsAtStart {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await store.warmConnections() }
                    group.addTask {
                        try await Task.sleep(for: .seconds(10))
                        throw OperationError("the connections did not open within 10 s")
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                logger.warning("could not open the database connections ahead of use", metadata: ["error": "\(error)"])
            }
        }
        router = try buildRouter(
            store: store, configuration: configuration, bundledDeckIDs: bundledDeckIDs, bundledQuestions: bundledQuestions, clock: clock)
    } catch {
        await pool.close()
        await readPool?.close()
        try? embedded?.stop()
        throw error
    }

    let connections = ConnectionCounter()
    let limits = configuration.connectionLimits
    return Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [ConnectionGuard(limits: limits, counter: connections)])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "study-server"),
        services: [
            DatabaseService(pool: pool, readPool: readPool, embedded: embedded, logger: logger)
        ]
            + (configuration.foldsQuestionSums ? [QuestionSumsFolder(store: store, logger: logger)] : [])
            + (configuration.metrics.map { [MetricsEndpoint.application($0)] } ?? []),
        onServerRunning: { [logger] channel in
            let port = channel.localAddress?.port ?? configuration.port
            logger.notice("the dashboard is at http://\(configuration.host):\(port)/ (sign in with a study account)")
            await onServerRunning(port)
        },
        logger: logger
    )
}

/// Owns the connection pool (and the embedded PostgreSQL, if any) for the application's lifetime: on shutdown, after
/// the HTTP server has finished its in-flight requests, it closes the pool and stops the embedded server.
struct DatabaseService: Service {
    let pool: PostgresPool
    var readPool: PostgresPool? = nil
    let embedded: LocalPostgres?
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        await pool.close()
        await readPool?.close()
        if let embedded {
            do { try embedded.stop() } catch { logger.error("could not stop the private PostgreSQL", metadata: ["error": "\(error)"]) }
        }
    }
}

/// Every route of the API over `store`, with its middleware: what `buildApplication` serves once the database is up.
/// Separate from it so that the routes can be built over any store that implements the storage ports (a test's
/// in-memory one, say) without starting a database. `bundledQuestions`: the bundled decks' questions, known to the sync
/// routes from the start (others are read when a push first names them).
public func buildRouter<
    Store: UserRepository & DeviceRepository & AttemptRepository & ProgressRepository & DeckRepository & SessionRepository
        & TeamRepository & ReadinessCheck & AccountAdministration & DashboardRepository
>(
    store: Store, configuration: ServerConfiguration, bundledDeckIDs: [String], bundledQuestions: [Question] = [],
    clock: @escaping @Sendable () -> Int64
) throws -> Router<AppContext> {
    let router = Router(context: AppContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: JSONErrorMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    HealthController(store: store).addRoutes(to: router)

    // A store that keeps login failures where every server sees them makes the limits hold across replicas.
    let shared = store as? any LoginFailureLog
    let v1 = router.group("v1").add(middleware: ProtocolVersionMiddleware())
    MetaController(configuration: configuration, clock: clock).addRoutes(to: v1)
    // One count of failed logins for the API and the dashboard's sign-in page.
    let logins = LoginThrottle(
        perUsername: configuration.loginFailuresPerUsername, perAddress: configuration.loginFailuresPerAddress,
        windowMs: configuration.loginWindowMs, shared: shared, namespace: "login")
    let credentials = PasswordCheck(repository: store, throttle: logins, decoyHash: Bcrypt.hash(UUID().uuidString, cost: configuration.bcryptCost))
    let accounts = AccountController(
        repository: store, configuration: configuration, credentials: credentials,
        registrations: LoginThrottle(
            perUsername: configuration.registrationsPerAddress, perAddress: configuration.registrationsPerAddress,
            windowMs: configuration.registrationWindowMs, shared: shared, namespace: "registration"),
        clock: clock)
    accounts.addPublicRoutes(to: v1)

    let authenticated = v1.group().add(middleware: AuthenticationMiddleware(repository: store, clock: clock))
    accounts.addAuthenticatedRoutes(to: authenticated)
    SyncController(repository: store, configuration: configuration, clock: clock, questions: QuestionCache(knowing: bundledQuestions))
        .addRoutes(to: authenticated)
    TeamController(repository: store, bundledDeckIDs: bundledDeckIDs, clock: clock).addRoutes(to: authenticated)
    InviteController(repository: store, clock: clock).addRoutes(to: authenticated)
    DeckController(repository: store, bundledDeckIDs: bundledDeckIDs, clock: clock).addRoutes(to: authenticated)
    LeaderboardController(repository: store, clock: clock).addRoutes(to: authenticated)
    ReportController(repository: store, clock: clock).addRoutes(to: authenticated)
    UserController(repository: store, clock: clock).addRoutes(to: authenticated)

    // The web dashboard: pages under /, signed in by a cookie of its own (issue 22).
    DashboardController(
        repository: store, configuration: configuration, templates: try DashboardTemplates.load(), credentials: credentials,
        bundledDeckIDs: bundledDeckIDs, clock: clock
    ).addRoutes(to: router)
    return router
}
