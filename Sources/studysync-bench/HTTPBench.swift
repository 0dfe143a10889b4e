import Foundation
import EmbeddedPostgres
import LibPQ
import StudyClient
import StudyCore

#if canImport(Glibc)
import Glibc
#endif

/// `studysync-bench http [ROUNDS]`: the CLI's two HTTP clients side by side in one run, against one release server:
/// async-http-client (the default) and libcurl (`STUDYSYNC_HTTP_CLIENT=curl`). Each round runs every shape once with
/// each client, the order swapped every round; it prints each client's median wall time and CPU time of this process
/// (the client side), and their ratio.
enum HTTPBench {
    static func run(rounds: Int) async throws {
        print("StudySync HTTP client comparison — \(ISO8601DateFormatter().string(from: Date())) — \(Bench.machineDescription()) — \(rounds) rounds")
        let postgres = try LocalPostgres.startTemporary(durable: true)
        defer { try? postgres.stop() }
        let port = 18_000 + Int.random(in: 0..<2_000)
        let server = try Bench.startServer(port: port, database: postgres.url)
        defer { kill(server.processIdentifier, SIGTERM); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        try await Bench.waitForServer(url)
        for size in [10_000, 100_000] {
            let home = try await Home.login(url, user: "http\(size)", register: true)
            try home.fill(size, seed: UInt64(size))
            _ = try await home.sync()
        }
        let clients = ["async-http-client", "curl"]
        func use(_ client: String) { if client == "curl" { setenv("STUDYSYNC_HTTP_CLIENT", "curl", 1) } else { unsetenv("STUDYSYNC_HTTP_CLIENT") } }
        func cpuSeconds() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        var results: [String: [String: [(wall: Double, cpu: Double)]]] = [:]
        for round in 0..<rounds {
            for client in round % 2 == 0 ? clients : clients.reversed() {
                use(client)
                for size in [10_000, 100_000] {
                    let home = try await Home.login(url, user: "http\(size)", register: false)
                    let (cpu, start) = (cpuSeconds(), Bench.monotonicSeconds())
                    _ = try await home.sync()
                    results["pull \(size)", default: [:]][client, default: []].append((Bench.monotonicSeconds() - start, cpuSeconds() - cpu))
                    guard try home.store.attempts().count == size else { throw BenchError("a pull of \(size) came back short") }
                    if size == 10_000 {
                        var samples: [(Double, Double)] = []
                        for _ in 0..<21 {
                            let (cpu, start) = (cpuSeconds(), Bench.monotonicSeconds())
                            _ = try await home.sync()
                            samples.append((Bench.monotonicSeconds() - start, cpuSeconds() - cpu))
                        }
                        let median = samples.sorted { $0.0 < $1.0 }[10]
                        results["sync with nothing new (median of 21)", default: [:]][client, default: []].append((median.0, median.1))
                    }
                }
            }
        }
        print("")
        print(Bench.pad("work", 40) + Bench.pad("AHC wall", 12) + Bench.pad("curl wall", 12) + Bench.pad("curl/AHC", 10) + Bench.pad("AHC CPU", 10)
            + Bench.pad("curl CPU", 10) + "curl/AHC")
        for work in ["sync with nothing new (median of 21)", "pull 10000", "pull 100000"] {
            func median(_ client: String, _ value: ((wall: Double, cpu: Double)) -> Double) -> Double {
                let values = (results[work]?[client] ?? []).map(value).sorted()
                return values.isEmpty ? .nan : values[values.count / 2]
            }
            let (aw, cw, ac, cc) = (median(clients[0], \.wall), median(clients[1], \.wall), median(clients[0], \.cpu), median(clients[1], \.cpu))
            func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }
            print(Bench.pad(work, 40) + Bench.pad(ms(aw), 12) + Bench.pad(ms(cw), 12) + Bench.pad(String(format: "%.2f", cw / aw), 10)
                + Bench.pad(ms(ac), 10) + Bench.pad(ms(cc), 10) + String(format: "%.2f", cc / ac))
        }
    }
}
