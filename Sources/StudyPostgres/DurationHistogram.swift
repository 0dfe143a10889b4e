import LibPQ

/// The histogram of answer times kept with the question-report sums (SQL/011): `counts[b]` learners in bucket `b`,
/// 0…599 by 100 ms, 600…1139 by 1 s from one minute, 1140 for ten minutes and more. Its median is computed here rather
/// than by the SQL function `duration_histogram_median` (same definition, tested equal): unnesting 200 histograms of
/// 1,141 buckets costs PostgreSQL ~150 ms, a walk over them here well under a millisecond.
enum DurationHistogram {
    static let buckets = 1141

    /// The time a bucket stands for: its lower bound (`duration_bucket_floor`).
    static func floor(ofBucket bucket: Int) -> Double {
        bucket < 600 ? Double(bucket * 100) : Double(60_000 + (bucket - 600) * 1000)
    }

    /// The median as percentile_cont(0.5) over the bucket floors: the mean of the values at the 0-based positions
    /// ⌊(n - 1) / 2⌋ and ⌈(n - 1) / 2⌉; nil when the histogram is empty.
    static func median(_ counts: [Int]) -> Double? {
        let n = counts.reduce(0, +)
        guard n > 0 else { return nil }
        func value(at position: Int) -> Double {
            var seen = 0
            for (bucket, count) in counts.enumerated() {
                seen += count
                if seen > position { return floor(ofBucket: bucket) }
            }
            return floor(ofBucket: counts.count - 1)
        }
        return (value(at: (n - 1) / 2) + value(at: n / 2)) / 2
    }

    /// The median of a histogram in PostgreSQL's text form, `{0,3,…}` (read byte by byte: 200 histograms of 1,141
    /// counts come with every report).
    static func median(ofText text: String) throws -> Double? {
        var counts: [Int] = []
        counts.reserveCapacity(buckets)
        var current = 0, digits = 0
        for byte in text.utf8.dropFirst() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9") where digits < 18:
                current = current * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
            case UInt8(ascii: ",") where digits > 0, UInt8(ascii: "}") where digits > 0:
                counts.append(current)
                (current, digits) = (0, 0)
            default:
                throw PostgresError(kind: .decoding, message: "'\(text.prefix(40))…' is not a histogram of counts.")
            }
        }
        guard text.utf8.first == UInt8(ascii: "{"), text.utf8.last == UInt8(ascii: "}") else {
            throw PostgresError(kind: .decoding, message: "'\(text.prefix(40))…' is not a histogram of counts.")
        }
        return median(counts)
    }
}
