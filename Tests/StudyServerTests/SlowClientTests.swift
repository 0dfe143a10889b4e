import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import StudyServer
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A raw TCP client over loopback, so tests can send what no HTTP library would: half a head, a stalled body, garbage.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) { _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) } }

    /// Everything the server sends until it closes the connection (or 10 seconds pass).
    func readToEnd() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    deinit { close(fd) }
}

@Suite(.serialized) struct SlowClientTests {
    func configuration(_ limits: (inout ConnectionLimits) -> Void) async throws -> ServerConfiguration {
        var configuration = try await testConfiguration()
        limits(&configuration.connectionLimits)
        return configuration
    }

    @Test func aHeadOrABodyThatStallsIsA408AndTheConnectionCloses() async throws {
        let app = try await buildApplication(
            try await configuration {
                $0.headTimeout = .milliseconds(300)
                $0.bodyIdleTimeout = .milliseconds(300)
            })
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let head = try RawConnection(port: port)
            head.send("POST /v1/accounts HTTP/1.1\r\nHost: x\r\n")
            let headAnswer = head.readToEnd()
            #expect(headAnswer.hasPrefix("HTTP/1.1 408"), "\(headAnswer)")
            #expect(headAnswer.contains(#""error":"request_timeout""#))
            let body = try RawConnection(port: port)
            body.send("POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
            let bodyAnswer = body.readToEnd()
            #expect(bodyAnswer.hasPrefix("HTTP/1.1 408"), "\(bodyAnswer)")
            // A request that arrives in time is served as ever. (The test client's own connection sat idle past the
            // timeout meanwhile, and was closed with a 408 as well.)
            let prompt = try RawConnection(port: port)
            prompt.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(prompt.readToEnd().hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func headersTooLargeAndRequestsThatAreNotHTTPGetAJSONError() async throws {
        let app = try await buildApplication(try await testConfiguration())
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let large = try RawConnection(port: port)
            large.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100 * 1024))\r\n\r\n")
            let largeAnswer = large.readToEnd()
            #expect(largeAnswer.hasPrefix("HTTP/1.1 431"), "\(largeAnswer.prefix(200))")
            #expect(largeAnswer.contains(#""error":"headers_too_large""#))
            let garbage = try RawConnection(port: port)
            garbage.send("\u{1}\u{2}garbage\r\n\r\n")
            let garbageAnswer = garbage.readToEnd()
            #expect(garbageAnswer.hasPrefix("HTTP/1.1 400"), "\(garbageAnswer)")
            #expect(garbageAnswer.contains(#""error":"bad_request""#))
        }
    }

    /// Past the cap, a new connection is told 503 at once instead of waiting unanswered; once the held ones go, the
    /// server answers again.
    @Test func connectionsPastTheCapGetA503AtOnce() async throws {
        let app = try await buildApplication(try await configuration { $0.maxConnections = 4 })
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // The test client's own connection is one; three more hold the rest without sending anything.
            #expect(try await client.json(.get, "/healthz").status == .ok)
            var held = try (0..<3).map { _ in try RawConnection(port: port) }
            try await Task.sleep(for: .milliseconds(200))
            let refused = try RawConnection(port: port)
            refused.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = refused.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 503"), "\(answer)")
            #expect(answer.contains("Retry-After: 5") || answer.contains("retry-after: 5"))
            #expect(answer.contains(#""error":"too_many_connections""#))
            held.removeAll()
            try await Task.sleep(for: .milliseconds(200))
            let later = try RawConnection(port: port)
            later.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(later.readToEnd().hasPrefix("HTTP/1.1 200"))
        }
    }
}
