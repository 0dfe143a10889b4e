import CZstd
import Foundation

/// Compression of request and response bodies (PROTOCOL.md, "Compression"): zstd, negotiated. A server that reads
/// zstd bodies says so in `GET /v1/meta` (`contentEncodings`), and only then does a client send one; a client that reads
/// them says so with `Accept-Encoding: zstd`, and only then is an answer compressed. Either side without it (an older
/// version, or a system without libzstd) sends and gets plain JSON.
public enum ContentCoding {
    /// The `Content-Encoding` / `Accept-Encoding` token.
    public static let zstd = "zstd"

    /// The level used: the fastest of zstd's regular levels. On a page in the column form, levels 3 and 9 were no smaller
    /// and 19 was 9% smaller for 190 times the time (docs/benchmarks.md, "The column form and compression").
    public static let level: Int32 = 1

    /// Bodies smaller than this are sent as they are: compressing them saves less than the header costs.
    public static let minimumBytes = 512

    /// Whether this process can compress and decompress (libzstd could be opened).
    public static var isAvailable: Bool { czstd_available() != 0 }

    /// The encodings this process reads, as `GET /v1/meta` lists them.
    public static var supported: [String] { isAvailable ? [zstd] : [] }

    /// `bytes` as one zstd frame, or nil when libzstd is unavailable.
    public static func compress(_ bytes: [UInt8], level: Int32 = level) -> [UInt8]? {
        let bound = czstd_compress_bound(bytes.count)
        guard bound > 0 else { return nil }
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out in
            bytes.withUnsafeBytes { input in czstd_compress(out.baseAddress, bound, input.baseAddress, input.count, level) }
        }
        guard written > 0 else { return nil }
        output.removeLast(output.count - written)
        return output
    }

    public enum DecompressionFailure: Error, Sendable, Equatable {
        /// Not a complete zstd frame.
        case malformed
        /// It expands past the limit (a decompression bomb, or simply too much).
        case tooLarge
        /// libzstd is unavailable here.
        case unavailable
    }

    /// The bytes the zstd frames in `bytes` hold, never more than `limit` of them: decompressing stops at the limit.
    public static func decompress(_ bytes: some ContiguousBytes, limit: Int) throws(DecompressionFailure) -> [UInt8] {
        var pointer: UnsafeMutableRawPointer?
        let size = bytes.withUnsafeBytes { input in czstd_decompress(input.baseAddress, input.count, max(0, limit), &pointer) }
        switch size {
        case CZSTD_TOO_LARGE: throw .tooLarge
        case CZSTD_UNAVAILABLE: throw .unavailable
        case ..<0: throw .malformed
        default:
            defer { free(pointer) }
            guard let pointer else { return [] }
            return [UInt8](UnsafeRawBufferPointer(start: pointer, count: size))
        }
    }

    /// Whether an `Accept-Encoding` value accepts zstd: a `zstd` token whose quality (`;q=`) is not 0.
    public static func accepts(_ header: String?) -> Bool {
        guard let header else { return false }
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard parts.first == zstd else { continue }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return quality > 0
        }
        return false
    }
}
