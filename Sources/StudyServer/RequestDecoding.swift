import Foundation
import Hummingbird

/// Decodes a JSON body within the size limit, with a 400 that names the problem.
func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: AppContext, limit: Int = 1 << 20) async throws -> T {
    let buffer = try await collectBody(request, limit: limit)
    do {
        return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    } catch let DecodingError.keyNotFound(key, _) {
        throw APIError.badRequest("The JSON body lacks the field '\(key.stringValue)'.")
    } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
        throw APIError.badRequest("The JSON field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type.")
    } catch {
        throw APIError.badRequest("The request body is not valid JSON for this endpoint; see GET /v1/openapi.json.")
    }
}

/// The whole request body, or a 413 when it is larger than `limit`.
func collectBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
    do {
        return try await request.body.collect(upTo: limit)
    } catch {
        throw APIError(.contentTooLarge, "body_too_large", "The request body is larger than \(limit) bytes; see GET /v1/meta for the limits.")
    }
}

/// A whole number from a query parameter, `value` when it is absent; a 400 naming it when it is not one in `range`.
func queryInteger(_ text: String?, name: String, in range: ClosedRange<Int>, default value: Int) throws -> Int {
    guard let text else { return value }
    guard let number = Int(text), range.contains(number) else {
        throw APIError.badRequest("\(name) is a whole number from \(range.lowerBound) to \(range.upperBound).")
    }
    return number
}
