/// One row for `COPY ... FROM STDIN (FORMAT binary)`, written field by field in the table's column order: PostgreSQL
/// then stores the values without parsing text (for a pushed page of attempts, about a fifth of its work).
///
/// Each writer puts the field's length and its value in PostgreSQL's binary form (network byte order).
public struct PostgresBinaryRow: Sendable {
    public private(set) var encoded: [UInt8]

    public init(fields: Int16, capacity: Int = 192) {
        encoded = []
        encoded.reserveCapacity(capacity)
        append(UInt16(bitPattern: fields))
    }

    public mutating func null() { append(UInt32.max) }  // length -1

    public mutating func int64(_ value: Int64) {
        append(UInt32(8))
        append(UInt64(bitPattern: value))
    }

    public mutating func int32(_ value: Int32) {
        append(UInt32(4))
        append(UInt32(bitPattern: value))
    }

    public mutating func bool(_ value: Bool) {
        append(UInt32(1))
        encoded.append(value ? 1 : 0)
    }

    public mutating func text(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            append(UInt32(utf8.count))
            encoded.append(contentsOf: utf8)
        }
    }

    /// A `uuid` from its 8-4-4-4-12 hexadecimal form, either case; false (and nothing written) when it is not one.
    @discardableResult
    public mutating func uuid(_ value: String) -> Bool {
        var bytes = [UInt8](repeating: 0, count: 16)
        var count = 0
        var high: UInt8?
        for (position, character) in value.utf8.enumerated() {
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard character == UInt8(ascii: "-") else { return false }
                continue
            }
            let nibble: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = character - UInt8(ascii: "A") + 10
            default: return false
            }
            if let first = high {
                guard count < 16 else { return false }
                bytes[count] = first << 4 | nibble
                count += 1
                high = nil
            } else {
                high = nibble
            }
        }
        guard count == 16, high == nil, value.utf8.count == 36 else { return false }
        append(UInt32(16))
        encoded.append(contentsOf: bytes)
        return true
    }

    /// A one-dimensional `smallint[]` without NULLs. Values must fit in 16 bits.
    public mutating func int16Array(_ values: [Int]) {
        // ndim, has-nulls flag, element type (int2, OID 21), then the dimension's length and lower bound, then each
        // element as length 2 and its value.
        let dimensions = values.isEmpty ? 0 : 1
        append(UInt32(12 + dimensions * 8 + values.count * 6))
        append(UInt32(dimensions))
        append(UInt32(0))
        append(UInt32(21))
        if !values.isEmpty {
            append(UInt32(values.count))
            append(UInt32(1))
        }
        for value in values {
            append(UInt32(2))
            append(UInt16(bitPattern: Int16(truncatingIfNeeded: value)))
        }
    }

    private mutating func append(_ value: UInt16) {
        encoded.append(UInt8(value >> 8))
        encoded.append(UInt8(value & 0xFF))
    }

    private mutating func append(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { encoded.append(contentsOf: $0) }
    }

    private mutating func append(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { encoded.append(contentsOf: $0) }
    }
}
