import Hummingbird
import LibPQ

/// `/healthz`: the process answers. `/readyz`: and it can reach the database.
struct HealthController {
    let pool: PostgresPool

    struct Status: ResponseCodable { let status: String }

    func addRoutes(to router: Router<AppContext>) {
        router.get("healthz") { _, _ in Status(status: "ok") }
        router.get("readyz") { _, _ -> Status in
            do {
                _ = try await pool.query("SELECT 1")
                return Status(status: "ready")
            } catch {
                throw APIError(.serviceUnavailable, "database_unavailable", "The server cannot reach PostgreSQL: \(error)")
            }
        }
    }
}
