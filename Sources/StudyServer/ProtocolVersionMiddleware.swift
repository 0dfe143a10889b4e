import Foundation
import HTTPTypes
import Hummingbird
import StudyAPI

/// Answers 426 `unsupported_protocol` to a client that names, in the `StudySync-Protocol` header, a sync protocol this
/// server does not speak, with a sentence that says which side to upgrade. A client that names none is served (curl,
/// scripts, and `study` before it sent the header).
struct ProtocolVersionMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let value = request.headers[HTTPField.Name(SyncProtocol.versionHeader)!] else { return try await next(request, context) }
        guard let version = Int(value.trimmingCharacters(in: .whitespaces)), version == SyncProtocol.version else {
            let theirs = Int(value.trimmingCharacters(in: .whitespaces))
            let upgrade =
                if let theirs, theirs < SyncProtocol.version {
                    "upgrade study to a version that speaks protocol \(SyncProtocol.version) ('study --version' shows yours)"
                } else {
                    "this server is older than your study: ask its administrator to upgrade it"
                }
            throw APIError(
                .upgradeRequired, "unsupported_protocol",
                "This server speaks StudySync sync protocol \(SyncProtocol.version), your client \(theirs.map(String.init) ?? "'\(value.prefix(16))'"): \(upgrade). Nothing was changed."
            )
        }
        return try await next(request, context)
    }
}
