import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id: the client's `X-Request-Id` when it is a sensible one (1 to 64 of `A-Z a-z 0-9 . _ -`),
/// else a new random one. The id is in every log line of the request (`request.id`), in the response's `X-Request-Id`,
/// and in an error's body (`requestId`). First in the chain, so that the errors of every later step carry it.
struct RequestIDMiddleware<Context: RequestContext>: RouterMiddleware {
    static var header: HTTPField.Name { HTTPField.Name("X-Request-Id")! }
    static var metadataKey: String { "request.id" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = Self.acceptable(request.headers[Self.header]) ?? Self.make()
        var context = context
        context.logger[metadataKey: Self.metadataKey] = .string(id)
        do {
            var response = try await next(request, context)
            response.headers[Self.header] = id
            return response
        } catch let error as HTTPResponseError {
            // Made here, with this context, so that the body and the header carry the id.
            var response = try error.response(from: request, context: context)
            response.headers[Self.header] = id
            return response
        }
    }

    static func acceptable(_ value: String?) -> String? {
        guard let value, (1...64).contains(value.utf8.count),
            value.utf8.allSatisfy({
                $0 < 128 && (isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-"))
            })
        else { return nil }
        return value
    }

    /// 16 random hexadecimal digits.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(UInt64.random(in: .min ... .max, using: &generator), radix: 16).leftPadded(to: 16)
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String { count >= length ? self : String(repeating: "0", count: length - count) + self }
}
