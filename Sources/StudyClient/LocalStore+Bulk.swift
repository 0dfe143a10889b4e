import StudyCore

extension LocalStore {
    /// Records many answers in one transaction (benchmarks and imports of generated data).
    public func recordAll(_ attempts: [Attempt]) throws {
        try db.transaction {
            for attempt in attempts { _ = try insertLocal(attempt) }
        }
    }
}
