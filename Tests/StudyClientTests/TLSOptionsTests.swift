import Foundation
import StudyClient
import Testing

/// A CA file for a private server is read when the client is made: a wrong one is a sentence at once, not a failed
/// handshake later. (The handshake itself, trusted and refused, is checked through nginx by deploy/test.)
struct TLSOptionsTests {
    @Test func aMissingCAFileIsNamed() throws {
        let error = #expect(throws: StoreError.self) {
            try ServerAPI(server: "https://study.example.org", caFile: "/nonexistent/ca.pem", environment: [:])
        }
        #expect(error?.description.contains("/nonexistent/ca.pem") == true, "\(String(describing: error))")
    }

    @Test func aFileWithoutACertificateIsRefused() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-ca-\(UUID().uuidString).pem")
        try "just some text\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let error = #expect(throws: StoreError.self) { try ServerAPI(server: "https://study.example.org", caFile: file.path, environment: [:]) }
        #expect(error?.description.contains(file.path) == true, "\(String(describing: error))")
    }

    @Test func sslCertFileIsReadWhenNoCAFileIsGiven() throws {
        let error = #expect(throws: StoreError.self) {
            try ServerAPI(server: "https://study.example.org", environment: ["SSL_CERT_FILE": "/nonexistent/bundle.pem"])
        }
        #expect(error?.description.contains("/nonexistent/bundle.pem") == true)
        // Without either, the system's certificates alone: nothing to read, nothing to fail.
        _ = try ServerAPI(server: "https://study.example.org", environment: [:])
    }
}
