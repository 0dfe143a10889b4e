import Foundation

/// The strings most recently made from bytes, so a value that repeats through a page of attempts (the device's id, the
/// session's, a question's) is made once and shared, instead of allocated again for every attempt.
///
/// A slot per hash of the bytes' length and a few of their bytes; a string is reused only when its bytes are equal, so
/// a collision only costs a new string. Strings of up to 15 bytes are stored inline by Swift and are never shared here.
public struct SharedStrings {
    private var slots: [String?]
    private static let slotCount = 64

    public init() { slots = Array(repeating: nil, count: Self.slotCount) }

    /// A string of `bytes`: a stored one with the same bytes, or a new one, then stored. Bytes that are not UTF-8 are
    /// repaired, as `String(decoding:as:)` does (such a string is never shared: its bytes differ from the input's).
    public mutating func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let count = bytes.count
        guard count > 15 else { return Self.make(bytes) }
        var hash = UInt(count) &* 0x9E37_79B9
        hash ^= UInt(bytes[count - 1]) &* 31 ^ UInt(bytes[count - 2]) &* 1_031 ^ UInt(bytes[count / 2]) &* 65_537
        let slot = Int(hash % UInt(Self.slotCount))
        if let stored = slots[slot], stored.utf8.count == count,
            stored.utf8.withContiguousStorageIfAvailable({ memcmp($0.baseAddress!, bytes.baseAddress!, count) == 0 }) == true
        {
            return stored
        }
        let made = Self.make(bytes)
        slots[slot] = made
        return made
    }

    private static func make(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count) {
            _ = $0.initialize(fromContentsOf: bytes); return bytes.count
        }
    }
}

extension Attempt {
    /// The one-option answers as shared arrays: most attempts choose one option, and an array of their own would be one
    /// more allocation per attempt read.
    public static func oneOption(_ option: Int) -> [Int]? { (0..<singleOptions.count).contains(option) ? singleOptions[option] : nil }

    private static let singleOptions: [[Int]] = (0..<10).map { [$0] }
}
