import Hummingbird
import LibPQ

/// `/healthz`: the process answers. `/readyz`: and it can reach the database.
struct HealthController {
    let pool: PostgresPool

    struct Status: ResponseCodable { let status: String }

    func addRoutes(to router: Router<AppContext>) {
        router.get("healthz") { _, _ in Status(status: "ok") }
        router.get("readyz") { _, context -> Status in
            do {
                _ = try await pool.query("SELECT 1")
                return Status(status: "ready")
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
