import Foundation
import HTTPTypes
import Hummingbird
import StudyAPI

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

/// The whole request body, decompressed when it came compressed (`Content-Encoding: zstd`), or a 413 when it is larger
/// than `limit`, before or after decompressing: decompressing stops at the limit, so a small body that would expand to
/// gigabytes (a decompression bomb) costs no more memory than `limit`.
func collectBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
    let tooLarge = APIError(.contentTooLarge, "body_too_large", "The request body is larger than \(limit) bytes; see GET /v1/meta for the limits.")
    let body: ByteBuffer
    do {
        body = try await request.body.collect(upTo: limit)
    } catch {
        throw tooLarge
    }
    guard let encoding = request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(), encoding != "identity" else {
        return body
    }
    guard encoding == ContentCoding.zstd, ContentCoding.isAvailable else {
        throw APIError(
            .unsupportedMediaType, "unsupported_encoding",
            "This server reads request bodies as plain JSON\(ContentCoding.isAvailable ? " or zstd" : "") (GET /v1/meta lists contentEncodings), not '\(encoding)'."
        )
    }
    do {
        return ByteBuffer(bytes: try ContentCoding.decompress(Array(body.readableBytesView), limit: limit))
    } catch .tooLarge {
        throw APIError(
            .contentTooLarge, "body_too_large",
            "The request body expands past \(limit) bytes when decompressed; see GET /v1/meta for the limits.")
    } catch {
        throw APIError(.badRequest, "invalid_encoding", "The request body is not a complete zstd frame, as its Content-Encoding says.")
    }
}

/// `bytes` as a JSON response, compressed when the client accepts zstd and the body is large enough to gain from it.
func jsonResponse(_ bytes: [UInt8], for request: Request) -> Response {
    var headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .vary: "Accept-Encoding"]
    if bytes.count >= ContentCoding.minimumBytes, ContentCoding.accepts(request.headers[.acceptEncoding]),
        let compressed = ContentCoding.compress(bytes)
    {
        headers[.contentEncoding] = ContentCoding.zstd
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: compressed)))
    }
    return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
}

/// A whole number from a query parameter, `value` when it is absent; a 400 naming it when it is not one in `range`.
func queryInteger(_ text: String?, name: String, in range: ClosedRange<Int>, default value: Int) throws -> Int {
    guard let text else { return value }
    guard let number = Int(text), range.contains(number) else {
        throw APIError.badRequest("\(name) is a whole number from \(range.lowerBound) to \(range.upperBound).")
    }
    return number
}
