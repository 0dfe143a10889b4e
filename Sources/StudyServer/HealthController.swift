import Hummingbird
import StudyStorage

/// `/healthz`: the process answers. `/readyz`: and its store can be reached.
struct HealthController<Store: ReadinessCheck> {
    let store: Store

    struct Status: ResponseCodable {
        let status: String
        /// `/readyz`: "postgresql" or "citus".
        var database: String?
    }

    func addRoutes(to router: Router<AppContext>) {
        router.get("healthz") { _, _ in Status(status: "ok", database: nil) }
        router.get("readyz") { _, context -> Status in
            do {
                return Status(status: "ready", database: try await store.checkReachable())
            } catch {
                // Where the database is (a socket path, a host) is for the operator's log, not for any caller.
                context.logger.warning("not ready: the database is unreachable", metadata: ["error": "\(error)"])
                throw APIError(
                    .serviceUnavailable, "database_unavailable", "The server cannot reach its database; its log says why.",
                    retryAfterSeconds: JSONErrorMiddleware<AppContext>.databaseRetryAfterSeconds)
            }
        }
    }
}
