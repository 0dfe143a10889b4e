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

    /// Empties the row for the next one, keeping its field count and its storage.
    public mutating func reset() { encoded.removeSubrange(2...) }

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
        var value = value
        return value.withUTF8 { uuid(utf8: $0) }
    }

    /// Three of these per pushed attempt: read from the contiguous UTF-8, the 16 bytes appended at once. The digits sit
    /// at fixed places, so each run of them is read without looking for dashes, and a bad digit is noted, not branched on.
    private mutating func uuid(utf8 text: UnsafeBufferPointer<UInt8>) -> Bool {
        guard text.count == 36, text[8] == UInt8(ascii: "-"), text[13] == UInt8(ascii: "-"), text[18] == UInt8(ascii: "-"),
            text[23] == UInt8(ascii: "-")
        else { return false }
        var valid = true
        func digits(_ range: Range<Int>, into value: inout UInt64) {
            for position in range {
                let character = text[position]
                let digit = character &- UInt8(ascii: "0")
                let letter = (character | 0x20) &- UInt8(ascii: "a")  // either case
                valid = valid && (digit < 10 || letter < 6)
                value = value << 4 | UInt64(digit < 10 ? digit : letter &+ 10)
            }
        }
        var high: UInt64 = 0, low: UInt64 = 0
        digits(0..<8, into: &high)
        digits(9..<13, into: &high)
        digits(14..<18, into: &high)
        digits(19..<23, into: &low)
        digits(24..<36, into: &low)
        guard valid else { return false }
        append(UInt32(16))
        append(high)
        append(low)
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

/// Rows for a binary COPY, written ahead of it one after another into one buffer (no allocation per row), so the COPY
/// only sends bytes: a pushed page is written before its transaction takes the learner's row lock, and a field whose
/// value is known only under that lock (the sequence number) is set in place with `setInt64`.
public struct PostgresBinaryRows: Sendable {
    public private(set) var encoded: [UInt8] = []
    private var starts: [Int] = []
    private var scratch: PostgresBinaryRow

    public init(fields: Int16, capacity: Int = 0) {
        scratch = PostgresBinaryRow(fields: fields)
        encoded.reserveCapacity(capacity)
    }

    public var count: Int { starts.count }

    /// Appends a row that `write` writes field by field, one per column of the COPY.
    public mutating func append(_ write: (inout PostgresBinaryRow) -> Void) {
        scratch.reset()
        write(&scratch)
        starts.append(encoded.count)
        encoded.append(contentsOf: scratch.encoded)
    }

    /// Sets field `field` (counted from 0) of row `row`, which must have been written with `int64`, to `value`.
    public mutating func setInt64(_ value: Int64, row: Int, field: Int) {
        var offset = starts[row] + 2
        func length(at offset: Int) -> Int32 {
            Int32(bitPattern: encoded[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) })
        }
        for _ in 0..<field { offset += 4 + max(Int(length(at: offset)), 0) }  // a NULL's length is -1, with no bytes
        precondition(length(at: offset) == 8, "field \(field) of row \(row) is not an int8")
        withUnsafeBytes(of: UInt64(bitPattern: value).bigEndian) { value in
            encoded.replaceSubrange(offset + 4..<offset + 12, with: value)
        }
    }

    /// The rows at `indices`, in that order.
    public func rows(at indices: some Sequence<Int>) -> PostgresBinaryRows {
        var subset = PostgresBinaryRows(fields: 0)
        subset.scratch = scratch
        for index in indices {
            subset.starts.append(subset.encoded.count)
            subset.encoded.append(contentsOf: encoded[starts[index]..<(index + 1 < starts.count ? starts[index + 1] : encoded.count)])
        }
        return subset
    }
}
