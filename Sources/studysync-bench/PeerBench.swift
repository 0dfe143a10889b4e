import EmbeddedPostgres
import Foundation
import StudyClient
import StudyCore

#if canImport(Glibc)
    import Glibc
#endif

/// The shapes the Anki peer's benchmark runs (../shared/peers/anki/bench.py), one pass of each, with its output as JSON
/// for `scripts/bench-vs-anki`, which runs this and the peer alternately and prints them side by side:
///
///     studysync-bench peer --json FILE [--sizes 1000,10000,100000] [--crowd 8x10000] [--shape 40,10,50 --relay PATH]
///
/// For each size: device A pushes that many offline attempts, syncs once more with nothing new, and device B pulls
/// them (as the peer's "A push R", "A no-op sync" and "A pull R"); then `--crowd` users push theirs at the same moment.
/// With `--shape RTT_MS,UP_MBIT,DOWN_MBIT`, every request goes through `shaped_relay.py` (`--relay`), a link with that
/// latency and those bandwidths that counts the bytes each way. Without it, the 100k push is also set beside a raw
/// COPY of the same rows in the same run.
enum PeerBench {
    static func run(_ arguments: [String]) async throws {
        func option(_ name: String) -> String? {
            arguments.firstIndex(of: name).flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        }
        guard let output = option("--json") else { throw BenchError("peer: give --json FILE") }
        let sizes = (option("--sizes") ?? "1000,10000,100000").split(separator: ",").compactMap { Int($0) }
        let crowd = (option("--crowd") ?? "8x10000").split(separator: "x").compactMap { Int($0) }
        let shape = option("--shape")
        let postgres = try LocalPostgres.startTemporary(durable: true)
        defer { try? postgres.stop() }
        let port = 18_000 + Int.random(in: 0..<2_000)
        let server = try Bench.startServer(port: port, database: postgres.url)
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        try await Bench.waitForServer("http://127.0.0.1:\(port)")

        var relay: Relay?
        if let shape {
            let numbers = shape.split(separator: ",").map(String.init)
            guard numbers.count == 3, let path = option("--relay") else {
                throw BenchError("peer: --shape RTT_MS,UP_MBIT,DOWN_MBIT needs --relay PATH")
            }
            relay = try Relay(path: path, target: port, rttMs: numbers[0], upMbit: numbers[1], downMbit: numbers[2])
        }
        defer { relay?.stop() }
        let url = "http://127.0.0.1:\(relay?.port ?? port)"
        Bench.say("StudySync, the peer's shapes — \(url)\(shape.map { " through a shaped link (\($0))" } ?? "")")

        var seconds: [String: Double] = [:], bytes: [String: [String: Int]] = [:], attempts: [String: Int] = [:]
        func measure(_ name: String, count: Int, _ body: @Sendable () async throws -> Void) async throws {
            let before = try relay?.totals()
            let startMark = Self.monotonicSeconds()
            let duration = try await Bench.timed(body)
            // With BENCH_MARKS set, each measure's window on CLOCK_MONOTONIC, to profile it alone: `perf record -k
            // CLOCK_MONOTONIC -g -- studysync-bench peer …`, then `perf report --time START,END` (docs/benchmarks.md).
            if ProcessInfo.processInfo.environment["BENCH_MARKS"] != nil {
                Bench.say(String(format: "  mark %@: %.6f,%.6f", name, startMark, Self.monotonicSeconds()))
            }
            seconds[name] = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            attempts[name] = count
            if let before, let after = try relay?.totals() {
                bytes[name] = ["up": after.up - before.up, "down": after.down - before.down]
            }
            Bench.say("  \(name): \(Bench.format(duration))" + (bytes[name].map { " up \($0["up"]!) B, down \($0["down"]!) B" } ?? ""))
        }

        var copyRows: [Attempt] = []
        for size in sizes {
            let user = "push\(size)"
            let a = try await Home.login(url, user: user, register: true)
            try a.fill(size, seed: UInt64(size))
            if size == 100_000 && shape == nil { copyRows = try a.store.attempts() }
            try await measure("push \(size)", count: size) { _ = try await a.sync() }
            try await measure("nothing new after \(size)", count: 0) { _ = try await a.sync() }
            let b = try await Home.login(url, user: user, register: false)
            try await measure("pull \(size)", count: size) { _ = try await b.sync() }
            guard try b.store.attempts().count == size else { throw BenchError("device B did not receive all \(size) attempts") }
        }
        if crowd.count == 2, crowd[0] > 0 {
            var homes: [Home] = []
            for i in 0..<crowd[0] {
                let home = try await Home.login(url, user: "crowd\(i)", register: true)
                try home.fill(crowd[1], seed: UInt64(1_000 + i))
                homes.append(home)
            }
            let crowdHomes = homes
            try await measure("\(crowd[0]) users x \(crowd[1]) at once", count: crowd[0] * crowd[1]) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for home in crowdHomes { group.addTask { _ = try await home.sync() } }
                    try await group.waitForAll()
                }
            }
        }
        var result: [String: Any] = [
            "machine": Bench.machineDescription(), "date": ISO8601DateFormatter().string(from: Date()), "seconds": seconds,
            "attempts": attempts, "bytes": bytes, "serverPeakMiB": Bench.memoryMiB(pid: server.processIdentifier, field: "VmHWM:"),
        ]
        if !copyRows.isEmpty {
            let copies = try await Bench.copyRates(postgres, attempts: copyRows, user: "push100000", pushedBefore: ["push1000", "push10000"])
            result["copyRate"] = ["empty": copies.empty.rate, "asFound": copies.asFound.rate]
        }
        try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: output))
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// `shaped_relay.py` in a process of its own, in front of the server.
    final class Relay {
        let process = Process()
        let output = Pipe()
        private(set) var port = 0
        private var pending: [UInt8] = []

        init(path: String, target: Int, rttMs: String, upMbit: String, downMbit: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            // A child inherits this process's blocked signals, SIGUSR1 among them, and the relay reports its byte
            // totals on SIGUSR1: unblocked first, then the relay runs as its own script.
            let start = """
                import runpy, signal, sys
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                sys.argv = sys.argv[1:]
                runpy.run_path(sys.argv[0], run_name="__main__")
                """
            process.arguments = [
                "python3", "-c", start, path, "--target", String(target), "--rtt-ms", rttMs, "--up-mbit", upMbit, "--down-mbit", downMbit,
            ]
            process.standardOutput = output
            try process.run()
            let first = try line()
            guard first.hasPrefix("listening "), let port = Int(first.dropFirst("listening ".count)) else {
                throw BenchError("shaped_relay.py said '\(first)', not 'listening PORT'")
            }
            self.port = port
        }

        /// The bytes relayed each way since it started.
        func totals() throws -> (up: Int, down: Int) {
            kill(process.processIdentifier, SIGUSR1)
            let text = try line()
            guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int], let up = object["up"],
                let down = object["down"]
            else { throw BenchError("shaped_relay.py said '\(text)', not its byte totals") }
            return (up, down)
        }

        private func line() throws -> String {
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    defer { pending.removeFirst(newline + 1) }
                    return String(decoding: pending[..<newline], as: UTF8.self)
                }
                let more = output.fileHandleForReading.availableData
                guard !more.isEmpty else { throw BenchError("shaped_relay.py stopped") }
                pending += more
            }
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
