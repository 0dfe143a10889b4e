import Logging
import ServiceLifecycle
import StudyPostgres

/// Folds what learners' pushes appended to their teams' question-report sums, and the deck totals they moved, into
/// the sums, in the background (SQL/018). A push appends the changes of the sums of the questions it answered instead
/// of updating the rows every member updates; until the fold, a report adds what the sums still lack, so reports are
/// exact either way and this only keeps them cheap. A team member's push only marks the learner (SQL/027, 029): the
/// fold adds their attempts since the mark to the boards and moves their part of the sums, once for all their syncs
/// since the last fold, and boards and reports add what is still marked. Every server of a deployment may run one: a
/// fold skips the moves and learners another transaction holds.
struct QuestionSumsFolder: Service {
    let store: PostgresStore
    let logger: Logger
    /// Moves and learners per transaction: each holds their rows for the fold's few milliseconds.
    var moves = 5_000
    var learners = 50
    /// How long to wait when less than a batch was left to fold, or after a failure.
    var pause: Duration = .seconds(1)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var full = false
            do {
                // On Citus a learner at a time (SQL/022): a batch across learners' rows would lock rows of every shard.
                let folded = try await store.foldQuestionSums(moves: moves, learners: learners)
                // Again at once only when as much as one call folds was left: a learner who syncs again meanwhile is
                // folded once for both.
                full = (moves > 0 && folded.moves == moves) || folded.learners >= learners * PostgresStore.learnerBatches
            } catch {
                guard !Task.isShuttingDownGracefully else { return }
                logger.warning("could not fold into the question reports' sums; trying again", metadata: ["error": "\(error)"])
            }
            if !full {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }
}
