import Foundation
import Hummingbird
import StudyAPI
import StudyCore

/// `GET /v1/meta` (limits and the server's clock) and `GET /v1/openapi.json`.
struct MetaController {
    let configuration: ServerConfiguration
    let clock: @Sendable () -> Int64

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get("meta") { _, _ in
            MetaResponse(
                protocolVersion: SyncProtocol.version, serverTime: clock(), maxPushPage: SyncProtocol.maxPushPage,
                maxPullPage: SyncProtocol.maxPullPage,
                maxBodyBytes: configuration.maxBodyBytes, clockToleranceMs: AttemptRules.clockTolerance,
                registration: configuration.registration.rawValue,
                contentEncodings: ContentCoding.supported, pageForms: MetaResponse.allPageForms,
                syncLists: MetaResponse.allSyncLists)
        }
        group.get("openapi.json") { _, _ -> Response in
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
                let data = FileManager.default.contents(atPath: url.path)
            else {
                throw APIError(.internalServerError, "internal", "The OpenAPI document is missing from the installation.")
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }
}
