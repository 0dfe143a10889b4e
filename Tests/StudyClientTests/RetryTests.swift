import Foundation
import StudyAPI
import StudyClient
import StudyCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP server on loopback that stalls on its first request and drops it unanswered, then answers the next with
/// `answer`; it keeps the bodies it was sent.
final class StallingServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var received: [String] = []

    /// `stall`: how long the first request waits before it is dropped unanswered (nil: it is answered like the others).
    /// `status`: the status of the answers.
    init(stall: Double?, answer: String, status: String = "200 OK", answers: Int = 2) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 4) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in
            for attempt in 0..<answers {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                let body = Self.readRequest(client)
                lock.withLock { received.append(body) }
                if attempt == 0, let stall {
                    usleep(UInt32(stall * 1_000_000))
                } else {
                    let response =
                        "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(answer.utf8.count)\r\nConnection: close\r\n\r\n\(answer)"
                    _ = response.utf8CString.withUnsafeBufferPointer { send(client, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
                }
                close(client)
            }
        }.start()
    }

    var bodies: [String] { lock.withLock { received } }

    deinit { close(listener) }

    /// Reads one request and returns its body (by Content-Length).
    private static func readRequest(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let text = String(decoding: bytes, as: UTF8.self)
            if let end = text.range(of: "\r\n\r\n") {
                let head = text[..<end.lowerBound].lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }.flatMap {
                        Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces))
                    } ?? 0
                let body = text[end.upperBound...]
                if body.utf8.count >= length { return String(body) }
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return "" }
            bytes += buffer[0..<n]
        }
    }
}

struct RetryTests {
    /// After an answer that stalled and never came, the retried request carries the time it is sent at, not the first
    /// try's: a resent clientTime made the server measure the stall as clock offset, and the next answers were stamped
    /// that far ahead (issue 15).
    @Test func eachTryCarriesItsOwnClientTime() async throws {
        let server = try StallingServer(
            stall: 1.2, answer: #"{"resultRuns":[],"attempts":[],"cursor":0,"hasMore":false,"serverTime":1780000000000,"clockOffsetMs":0}"#)
        let api = try ServerAPI(server: "http://127.0.0.1:\(server.port)", token: "t")
        _ = try await api.sync(SyncRequest(clientTime: 1_780_000_000_000, cursor: 0, attempts: []))
        let times = try server.bodies.map { body -> Int64 in
            let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            return try #require((object?["clientTime"] as? NSNumber)?.int64Value)
        }
        #expect(times.count == 2)
        #expect(times[0] == 1_780_000_000_000)
        // The stall (1.2 s) and the backoff before the retry (0.5 s) passed between the tries.
        #expect(times[1] - times[0] >= 1_600, "\(times)")
    }

    /// While the server's database is down every try is a 503; after the retries the learner reads one sentence that
    /// says what happened and that nothing was lost (issue 15: "Try again later.." with a double period).
    @Test func aServerWithoutItsDatabaseIsReportedInOneSentence() async throws {
        let server = try StallingServer(
            stall: nil,
            answer: #"{"error":"database_unavailable","message":"The server cannot reach its database right now; try again in a few seconds."}"#,
            status: "503 Service Unavailable", answers: 5)
        let api = try ServerAPI(server: "http://127.0.0.1:\(server.port)", token: "t")
        do {
            _ = try await api.sync(SyncRequest(clientTime: 1_780_000_000_000, cursor: 0, attempts: []))
            Issue.record("a sync against a server without its database succeeded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("cannot reach its database"), "\(message)")
            #expect(message.contains("Nothing was lost"), "\(message)")
            #expect(!message.contains(".."), "\(message)")
        }
        #expect(server.bodies.count == 5)  // the first try and four retries
    }
}
