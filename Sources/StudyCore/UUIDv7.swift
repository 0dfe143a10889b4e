import Foundation

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

extension UUIDv7 {
    /// The largest counter of a device's attempt ids (12 bits, RFC 9562's `rand_a`).
    public static let counterMask = 0xFFF

    /// The id a device gives the attempt it makes at `milliseconds` (RFC 9562 version 7, "fixed-length dedicated counter
    /// bits"): the time, then `counter` (which the device steps by one for each attempt, modulo 4096), then the last 62
    /// bits of the device's own id. A device never makes two attempts in one millisecond with one counter, and two
    /// devices' ids differ in those 62 random bits, so the ids are unique as random ones are; but a page of one device's
    /// attempts needs no random bits on the wire: each id follows from its time, its device and a counter step
    /// (PROTOCOL.md, "The column form"). Nil when `device` is not a UUID or the time does not fit 48 bits.
    public static func make(milliseconds: Int64, counter: Int, device: String) -> String? {
        var device = device
        return device.withUTF8 { device -> String? in
            guard device.count == 36, (0..<(1 << 48)).contains(milliseconds), (0...counterMask).contains(counter) else { return nil }
            return String(unsafeUninitializedCapacity: 36) { buffer in
                write(milliseconds: milliseconds, counter: counter, device: device, into: buffer)
                return 36
            }
        }
    }

    /// The counter of `id` when it is exactly the id `make(milliseconds:counter:device:)` gives for this time and device
    /// (the common case: the attempt was made by that device as it makes them); else nil.
    public static func counter(of id: String, milliseconds: Int64, device: String) -> Int? {
        var id = id, device = device
        return id.withUTF8 { id -> Int? in
            device.withUTF8 { device -> Int? in
                guard id.count == 36, device.count == 36, (0..<(1 << 48)).contains(milliseconds) else { return nil }
                var counter = 0
                for i in 15..<18 {
                    guard let digit = lowerHexValue(id[i]) else { return nil }
                    counter = counter << 4 | digit
                }
                return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { expected -> Int? in
                    write(milliseconds: milliseconds, counter: counter, device: device, into: expected)
                    return memcmp(expected.baseAddress!, id.baseAddress!, 36) == 0 ? counter : nil
                }
            }
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func lowerHexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        default: nil
        }
    }

    /// `tttttttt-tttt-7ccc-` then the device id's last 17 characters (its variant digit and 62 bits).
    private static func write(milliseconds: Int64, counter: Int, device: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) {
        let time = UInt64(milliseconds)
        var position = 0
        for nibble in stride(from: 44, through: 0, by: -4) {
            if position == 8 {
                out[position] = UInt8(ascii: "-")
                position += 1
            }
            out[position] = hexDigits[Int((time >> UInt64(nibble)) & 0xF)]
            position += 1
        }
        out[13] = UInt8(ascii: "-")
        out[14] = UInt8(ascii: "7")
        out[15] = hexDigits[(counter >> 8) & 0xF]
        out[16] = hexDigits[(counter >> 4) & 0xF]
        out[17] = hexDigits[counter & 0xF]
        out[18] = UInt8(ascii: "-")
        for i in 19..<36 { out[i] = device[i] }
    }
}
