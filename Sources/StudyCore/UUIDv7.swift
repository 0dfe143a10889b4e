/// Time-ordered UUIDs (RFC 9562, version 7): 48 bits of epoch milliseconds, then randomness. Attempts made on one
/// device get ids that sort by time, so the server's unique index on attempt ids grows at its right edge instead of
/// at random pages.
public enum UUIDv7 {
    public static func make<R: RandomNumberGenerator>(milliseconds: Int64, using rng: inout R) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let ms = UInt64(max(0, milliseconds))
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: ms >> UInt64(40 - i * 8)) }
        for i in 6..<16 { bytes[i] = UInt8.random(in: .min ... .max, using: &rng) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let chars = Array(SHA256.hexString(bytes))
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(chars[$0]) }.joined(separator: "-")
    }

    public static func make(milliseconds: Int64) -> String {
        var rng = SystemRandomNumberGenerator()
        return make(milliseconds: milliseconds, using: &rng)
    }
}
