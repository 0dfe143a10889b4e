import LibPQ
import StudyStorage

extension PostgresError: StorageFailure {
    public var failure: StorageFailureKind {
        switch kind {
        case .connectFailed, .connectionLost, .poolTimeout, .poolClosed: .unavailable
        case .invalidValue: .invalidValue
        // A data exception (SQLSTATE class 22: a value out of range, a malformed one) or a row too large (54000).
        case _ where sqlState?.hasPrefix("22") == true || sqlState == "54000": .invalidValue
        default: .other
        }
    }
}
