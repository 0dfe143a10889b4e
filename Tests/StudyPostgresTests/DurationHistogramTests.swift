import LibPQ
import PostgresTestSupport
import Testing

@testable import StudyPostgres

/// The question report's median time is computed in Swift from the histogram that PostgreSQL keeps; the SQL views
/// compute it with `duration_histogram_median`. Both must give the same number.
@Suite struct DurationHistogramTests {
    @Test func theSwiftMedianIsTheSQLMedian() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await MigrationRunner(pool: pool).run(try Migration.bundled())
            var rng = SystemRandomNumberGenerator()
            var cases: [[Int]] = [[], [0], [1140], [599, 600], [0, 0, 1140], [5, 5, 7], [10, 20, 30, 40]]
            for _ in 0..<60 {
                let spread = [10, 200, 1141].randomElement(using: &rng)!
                cases.append((0..<Int.random(in: 1...40, using: &rng)).map { _ in Int.random(in: 0..<spread, using: &rng) })
            }
            for buckets in cases {
                let text = try await pool.query("SELECT duration_histogram(\(PostgresArray(buckets))::integer[])::text").scalar(String.self)!
                let sql = try await pool.query("SELECT duration_histogram_median(\(text)::integer[])").scalar(Double?.self) ?? nil
                let swift = try DurationHistogram.median(ofText: text)
                #expect(swift == sql, "buckets \(buckets.sorted())")
                // And both are percentile_cont(0.5) of the buckets' lower bounds.
                let exact =
                    try await pool.query(
                        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_bucket_floor(b)) FROM unnest(\(PostgresArray(buckets))::integer[]) b"
                    ).scalar(Double?.self) ?? nil
                #expect(swift == exact, "buckets \(buckets.sorted())")
            }
        }
    }

    @Test func bucketsAreTenthsOfASecondThenSecondsThenTenMinutes() async throws {
        let pool = PostgresPool(configuration: try await TestDatabase.fresh(), size: 1)
        try await withPool(pool) { pool async throws in
            try await MigrationRunner(pool: pool).run(try Migration.bundled())
            let floors = try await pool.query(
                "SELECT duration_bucket_floor(duration_bucket(ms)) FROM unnest(ARRAY[0, 99, 4050, 59999, 60000, 61500, 599999, 600000, 9e9]::float8[]) ms"
            ).column(Double.self)
            #expect(floors == [0, 0, 4_000, 59_900, 60_000, 61_000, 599_000, 600_000, 600_000])
            #expect([0, 599, 600, 1139, 1140].map(DurationHistogram.floor(ofBucket:)) == [0, 59_900, 60_000, 599_000, 600_000])
        }
    }

    @Test func aHistogramThatIsNotCountsIsAnError() throws {
        for text in ["", "{", "{1,,2}", "{1,a}", "[1,2]", "{-1}", "{1,2"] {
            #expect(throws: PostgresError.self, "\(text)") { try DurationHistogram.median(ofText: text) }
        }
        #expect(try DurationHistogram.median(ofText: "{0,0,0}") == nil)
        #expect(try DurationHistogram.median(ofText: "{0,2,1}") == 100)
    }
}
