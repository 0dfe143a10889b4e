import Foundation

/// The FSRS-6 scheduler exactly as the reference `fsrs` package (PyPI, version 6.3.2) implements it with `Scheduler()`
/// defaults and fuzzing off. Only what a pure fold needs is here: no randomness, no wall clock.
///
/// Python's quirks are reproduced on purpose: `timedelta.days` floors, `round` rounds half to even, and `math.e ** x` is `pow`.
public struct FSRS: Sendable {
    public enum Rating: Int, Sendable, Codable { case again = 1, hard = 2, good = 3, easy = 4 }
    public enum State: Int, Sendable, Codable { case learning = 1, review = 2, relearning = 3 }

    public struct Card: Sendable, Hashable, Codable {
        public var state: State = .learning
        /// The learning or relearning step, nil in the review state.
        public var step: Int? = 0
        public var stability: Double?
        public var difficulty: Double?
        /// Epoch milliseconds.
        public var due: Int64?
        public var lastReview: Int64?

        public init() {}
    }

    public static let defaultParameters: [Double] = [
        0.212, 1.2931, 2.3065, 8.2956, 6.4133, 0.8334, 3.0194, 0.001, 1.8722, 0.1666, 0.796,
        1.4835, 0.0614, 0.2629, 1.6483, 0.6014, 1.8729, 0.5425, 0.0912, 0.0658, 0.1542,
    ]
    public static let minute: Int64 = 60_000
    public static let day: Int64 = 86_400_000
    static let stabilityMin = 0.001

    public let w: [Double]
    public let desiredRetention: Double
    public let learningSteps: [Int64]
    public let relearningSteps: [Int64]
    public let maximumInterval: Int64
    private let decay: Double
    private let factor: Double

    /// The pinned scheduler every StudySync installation uses; changing it changes everyone's progress.
    public static let standard = FSRS()

    public init(
        parameters: [Double] = FSRS.defaultParameters, desiredRetention: Double = 0.9,
        learningSteps: [Int64] = [1 * minute, 10 * minute], relearningSteps: [Int64] = [10 * minute], maximumInterval: Int64 = 36500
    ) {
        precondition(parameters.count == 21, "FSRS-6 takes 21 parameters")
        self.w = parameters
        self.desiredRetention = desiredRetention
        self.learningSteps = learningSteps
        self.relearningSteps = relearningSteps
        self.maximumInterval = maximumInterval
        self.decay = -parameters[20]
        self.factor = pow(0.9, 1 / decay) - 1
    }

    /// The probability of recall at `now`, on whole elapsed days as the reference computes it; 0 for a card never reviewed.
    public func retrievability(of card: Card, at now: Int64) -> Double {
        guard let last = card.lastReview, let stability = card.stability else { return 0 }
        let elapsedDays = Double(max(0, floorDays(now - last)))
        return pow(1 + factor * elapsedDays / stability, decay)
    }

    /// The card after a review with `rating` at `time` (epoch milliseconds).
    public func review(_ card: Card, rating: Rating, at time: Int64) -> Card {
        var card = card
        let daysSinceLast = card.lastReview.map { floorDays(time - $0) }
        let interval: Int64

        func updateMemory(updateDifficultyOnShortTerm: Bool) {
            guard let s = card.stability, let d = card.difficulty else {
                card.stability = initialStability(rating)
                card.difficulty = clampDifficulty(initialDifficulty(rating))
                return
            }
            if let days = daysSinceLast, days < 1 {
                card.stability = shortTermStability(s, rating)
                if updateDifficultyOnShortTerm { card.difficulty = nextDifficulty(d, rating) }
            } else {
                card.stability = nextStability(d, s, retrievability(of: card, at: time), rating)
                if updateDifficultyOnShortTerm { card.difficulty = nextDifficulty(d, rating) }
            }
        }

        switch card.state {
        case .learning, .relearning:
            let steps = card.state == .learning ? learningSteps : relearningSteps
            updateMemory(updateDifficultyOnShortTerm: true)
            let step = card.step ?? 0
            if steps.isEmpty || (step >= steps.count && rating != .again) {
                interval = graduate(&card)
            } else {
                switch rating {
                case .again:
                    card.step = 0
                    interval = steps[0]
                case .hard:
                    if step == 0 && steps.count == 1 {
                        interval = steps[0] * 3 / 2
                    } else if step == 0 {
                        interval = (steps[0] + steps[1]) / 2
                    } else {
                        interval = steps[step]
                    }
                case .good:
                    if step + 1 == steps.count {
                        interval = graduate(&card)
                    } else {
                        card.step = step + 1
                        interval = steps[step + 1]
                    }
                case .easy:
                    interval = graduate(&card)
                }
            }
        case .review:
            let d = card.difficulty!
            updateMemory(updateDifficultyOnShortTerm: false)
            card.difficulty = nextDifficulty(d, rating)
            if rating == .again && !relearningSteps.isEmpty {
                card.state = .relearning
                card.step = 0
                interval = relearningSteps[0]
            } else {
                interval = nextIntervalDays(card.stability!) * FSRS.day
            }
        }
        card.due = time + interval
        card.lastReview = time
        return card
    }

    private func graduate(_ card: inout Card) -> Int64 {
        card.state = .review
        card.step = nil
        return nextIntervalDays(card.stability!) * FSRS.day
    }

    /// Python's `timedelta.days`: floor division, also for negative spans.
    private func floorDays(_ ms: Int64) -> Int64 {
        ms >= 0 ? ms / FSRS.day : -((-ms + FSRS.day - 1) / FSRS.day)
    }

    private func e(_ x: Double) -> Double { pow(M_E, x) }

    private func clampDifficulty(_ d: Double) -> Double { min(max(d, 1.0), 10.0) }

    private func initialStability(_ r: Rating) -> Double { max(w[r.rawValue - 1], FSRS.stabilityMin) }

    private func initialDifficulty(_ r: Rating) -> Double { w[4] - e(w[5] * Double(r.rawValue - 1)) + 1 }

    func nextIntervalDays(_ stability: Double) -> Int64 {
        let raw = (stability / factor) * (pow(desiredRetention, 1 / decay) - 1)
        // Clamped before the conversion: Int64(_:) traps on a value out of its range (or NaN).
        guard raw.isFinite else { return raw.isNaN ? 1 : maximumInterval }
        let rounded = Int64(min(max(raw, 1), Double(maximumInterval)).rounded(.toNearestOrEven))
        return min(max(rounded, 1), maximumInterval)
    }

    private func shortTermStability(_ s: Double, _ r: Rating) -> Double {
        var increase = e(w[17] * (Double(r.rawValue) - 3 + w[18])) * pow(s, -w[19])
        if r != .again { increase = max(increase, 1.0) }
        return max(s * increase, FSRS.stabilityMin)
    }

    private func nextDifficulty(_ d: Double, _ r: Rating) -> Double {
        let delta = -(w[6] * (Double(r.rawValue) - 3))
        let damped = d + (10.0 - d) * delta / 9.0
        return clampDifficulty(w[7] * initialDifficulty(.easy) + (1 - w[7]) * damped)
    }

    private func nextStability(_ d: Double, _ s: Double, _ r: Double, _ rating: Rating) -> Double {
        let next: Double
        if rating == .again {
            let longTerm = w[11] * pow(d, -w[12]) * (pow(s + 1, w[13]) - 1) * e((1 - r) * w[14])
            let shortTerm = s / e(w[17] * w[18])
            next = min(longTerm, shortTerm)
        } else {
            let hardPenalty = rating == .hard ? w[15] : 1
            let easyBonus = rating == .easy ? w[16] : 1
            next = s * (1 + e(w[8]) * (11 - d) * pow(s, -w[9]) * (e((1 - r) * w[10]) - 1) * hardPenalty * easyBonus)
        }
        return max(next, FSRS.stabilityMin)
    }
}
