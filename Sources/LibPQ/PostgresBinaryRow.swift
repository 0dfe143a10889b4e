/// One row for `COPY ... FROM STDIN (FORMAT binary)`, written field by field in the table's column order: PostgreSQL
/// then stores the values without parsing text (for a pushed page of attempts, about a fifth of its work).
///
/// Each writer puts the field's length and its value in PostgreSQL's binary form (network byte order).
public struct PostgresBinaryRow: Sendable {
    /// The row's bytes are `storage[..<length]`; the rest is room, so a field is stored in place rather than appended
    /// through the array's general path (which took a third of writing a pushed page's rows).
    private var storage: [UInt8]
    private var length = 0

    public var encoded: [UInt8] { Array(storage[..<length]) }

    public init(fields: Int16, capacity: Int = 192) {
        storage = Array(repeating: 0, count: max(capacity, 16))
        append(UInt16(bitPattern: fields))
    }

    /// Empties the row for the next one, keeping its field count and its storage.
    mutating func reset() {
        length = 2
        uuidsInRow = 0
    }

    /// Calls `body` with the row's bytes.
    func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
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
        append(UInt8(value ? 1 : 0))
    }

    public mutating func text(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            append(UInt32(utf8.count))
            makeRoom(utf8.count)
            storage.withUnsafeMutableBytes {
                UnsafeMutableRawBufferPointer(rebasing: $0[length..<length + utf8.count]).copyMemory(from: UnsafeRawBufferPointer(utf8))
            }
            length += utf8.count
        }
    }

    /// A `uuid` from its 8-4-4-4-12 hexadecimal form, either case; false (and nothing written) when it is not one.
    @discardableResult
    public mutating func uuid(_ value: String) -> Bool {
        // The rows of one page mostly repeat some uuids in the same place (the device's, the session's): the value read
        // last at this place in the row before is used again when the text is the same.
        let place = uuidsInRow
        uuidsInRow += 1
        if place < recentUUIDs.count, let recent = recentUUIDs[place], recent.text == value {
            append(UInt32(16))
            append(recent.high)
            append(recent.low)
            return true
        }
        var text = value
        guard let (high, low) = text.withUTF8({ Self.parseUUID($0) }) else { return false }
        if place < recentUUIDs.count { recentUUIDs[place] = (value, high, low) }
        append(UInt32(16))
        append(high)
        append(low)
        return true
    }

    /// The last uuid written at each of the first few uuid places of a row, and how many this row has had.
    private var recentUUIDs: [(text: String, high: UInt64, low: UInt64)?] = [nil, nil, nil, nil]
    private var uuidsInRow = 0

    /// The 128 bits of a uuid's text, read from its contiguous UTF-8. The digits sit at fixed places, so each run of them
    /// is read without looking for dashes, and a bad digit is noted, not branched on.
    private static func parseUUID(_ text: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        guard text.count == 36, text[8] == UInt8(ascii: "-"), text[13] == UInt8(ascii: "-"), text[18] == UInt8(ascii: "-"),
            text[23] == UInt8(ascii: "-")
        else { return nil }
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
        return valid ? (high, low) : nil
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

    /// Stores an integer in network byte order after the row's bytes.
    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        makeRoom(size)
        storage.withUnsafeMutableBytes { $0.storeBytes(of: value.bigEndian, toByteOffset: length, as: T.self) }
        length += size
    }

    /// Makes sure `count` more bytes fit.
    private mutating func makeRoom(_ count: Int) {
        if length + count > storage.count { storage.append(contentsOf: repeatElement(0, count: max(count, storage.count))) }
    }
}

/// Rows for a binary COPY, written ahead of it one after another into one buffer (no allocation per row), so the COPY
/// only sends bytes (bulk loads, and the benchmark's raw COPY). A push writes its rows as the COPY sends them instead
/// (`PostgresConnection.copyBinary(into:columns:count:write:)`), so that its pages never hold them all.
public struct PostgresBinaryRows: Sendable {
    public private(set) var encoded: [UInt8] = []
    public private(set) var count = 0
    private var scratch: PostgresBinaryRow

    public init(fields: Int16, capacity: Int = 0) {
        scratch = PostgresBinaryRow(fields: fields)
        encoded.reserveCapacity(capacity)
    }

    /// Appends a row that `write` writes field by field, one per column of the COPY.
    public mutating func append(_ write: (inout PostgresBinaryRow) -> Void) {
        scratch.reset()
        write(&scratch)
        count += 1
        scratch.withBytes { encoded.append(contentsOf: $0) }
    }
}
