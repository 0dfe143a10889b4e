import Logging
import ServiceLifecycle
import StudyPostgres

/// Folds the deck totals that learners' pushes moved into their teams' question-report sums, in the background
/// (SQL/018). A push moves only the sums of the questions it answered; until the fold, a report adds what the sums
/// still lack, so reports are exact either way and this only keeps them cheap. Every server of a deployment may run
/// one: a fold skips the learners another transaction holds.
struct QuestionSumsFolder: Service {
    let store: PostgresStore
    let logger: Logger
    /// Learners per transaction: each holds their rows for the fold's few milliseconds.
    var batch = 50
    /// How long to wait when nothing was left to fold, or after a failure.
    var pause: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var folded = 0
            do {
                folded = try await store.foldQuestionTotals(limit: batch)
            } catch {
                guard !Task.isShuttingDownGracefully else { return }
                logger.warning("could not fold learners' totals into the question reports; trying again", metadata: ["error": "\(error)"])
            }
            if folded < batch {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }
}
