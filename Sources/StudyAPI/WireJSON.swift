import StudyCore

/// A small JSON reader and writer for the sync protocol's hot path.
///
/// A sync page carries thousands of attempts; with Foundation's `JSONEncoder`/`JSONDecoder` encoding and decoding them
/// took most of a push's CPU time on both sides (docs/benchmarks.md). The wire shape is unchanged: the
/// same JSON, readable and writable by any JSON library, and the tests check both directions against Foundation's
/// Codable forms of the same types.

/// Why a JSON document could not be read, with the path of the field at fault (`attempts[3].chosen`).
public struct WireJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `tooLarge`: an array holds more values than its bound (a page of more attempts than `maxPushPage`).
    public enum Kind: Sendable, Equatable { case syntax, missingField, wrongType, tooLarge }
    public let kind: Kind
    public var path: [String]
    let detail: String

    init(_ kind: Kind, _ detail: String, path: [String] = []) {
        self.kind = kind
        self.detail = detail
        self.path = path
    }

    /// The path as one string: `attempts[3].chosen`.
    public var field: String {
        path.reduce(into: "") { text, part in
            if part.hasPrefix("[") || text.isEmpty { text += part } else { text += "." + part }
        }
    }

    public var description: String {
        switch kind {
        case .syntax: return "The body is not valid JSON: \(detail)."
        case .missingField: return "The JSON body lacks the field '\(field)'."
        case .wrongType: return "The JSON field '\(field)' has the wrong type: \(detail)."
        case .tooLarge: return "The JSON field '\(field)' holds too many values: \(detail)."
        }
    }
}

/// An object's key as `JSONReader.readObject` passes it: valid only inside the call.
public struct JSONKey {
    private let bytes: UnsafeBufferPointer<UInt8>?
    private let string: String?

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        string = nil
    }

    init(string: String) {
        bytes = nil
        self.string = string
    }

    /// The key as a String, for messages.
    public var text: String { string ?? String(decoding: bytes!, as: UTF8.self) }

    public static func ~= (pattern: StaticString, key: JSONKey) -> Bool {
        guard let bytes = key.bytes else { return key.string == pattern.description }
        return bytes.count == pattern.utf8CodeUnitCount
            && bytes.elementsEqual(UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount))
    }
}

/// Reads one JSON document from UTF-8 bytes, value by value, as the caller expects them.
public struct JSONReader: ~Copyable {
    /// The deepest nesting of objects and arrays read. The sync messages need four levels; a document nested deeper
    /// (100,000 `[` once overflowed the stack of the reader, which recurses per level) is refused as a syntax error.
    public static let maxDepth = 32

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0

    /// Runs `body` with a reader over `bytes`, and checks that nothing but white space follows the value it read.
    public static func read<T>(_ bytes: some Collection<UInt8>, _ body: (inout JSONReader) throws(WireJSONError) -> T) throws(WireJSONError) -> T {
        func run(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<T, WireJSONError> {
            var reader = JSONReader(bytes: buffer)
            do throws(WireJSONError) {
                let value = try body(&reader)
                reader.skipWhitespace()
                guard reader.index == buffer.count else { throw WireJSONError(.syntax, "unexpected text after the end at byte \(reader.index)") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        let result = bytes.withContiguousStorageIfAvailable(run) ?? Array(bytes).withUnsafeBufferPointer(run)
        return try result.get()
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: Structure

    /// Calls `field` for each member of an object, with the key; `field` must read (or `skipValue`) the member's value.
    /// The key is matched with `switch key { case "name": ... }`, without making a String of it.
    public mutating func readObject(_ field: (inout JSONReader, JSONKey) throws(WireJSONError) -> Void) throws(WireJSONError) {
        try expect(UInt8(ascii: "{"), "an object")
        try enter()
        defer { depth -= 1 }
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw syntax("expected a field name") }
            let key = try readKey()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw syntax("expected ':' after a field name") }
            index += 1
            do {
                try field(&self, key)
            } catch var error {
                error.path.insert(key.text, at: 0)
                throw error
            }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return
            default: throw syntax("expected ',' or '}' in an object")
            }
        }
    }

    /// Reads an array, calling `element` once per element.
    public mutating func readArray(_ element: (inout JSONReader) throws(WireJSONError) -> Void) throws(WireJSONError) {
        try expect(UInt8(ascii: "["), "an array")
        try enter()
        defer { depth -= 1 }
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            return
        }
        var position = 0
        while true {
            do {
                try element(&self)
            } catch var error {
                error.path.insert("[\(position)]", at: 0)
                throw error
            }
            position += 1
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return
            default: throw syntax("expected ',' or ']' in an array")
            }
        }
    }

    public mutating func readArray<T>(of element: (inout JSONReader) throws(WireJSONError) -> T) throws(WireJSONError) -> [T] {
        var values: [T] = []
        try readArray { (reader: inout JSONReader) throws(WireJSONError) in values.append(try element(&reader)) }
        return values
    }

    /// `readArray(of:)` that refuses an array of more than `limit` values as soon as it meets the one past it, before
    /// reading it: a page cannot make the reader hold more than its bound.
    public mutating func readArray<T>(atMost limit: Int, of element: (inout JSONReader) throws(WireJSONError) -> T) throws(WireJSONError)
        -> [T]
    {
        var values: [T] = []
        try readArray { (reader: inout JSONReader) throws(WireJSONError) in
            guard values.count < limit else { throw WireJSONError(.tooLarge, "at most \(limit)", path: []) }
            values.append(try element(&reader))
        }
        return values
    }

    /// Whether the next value is a string, without reading it: for a field that holds one of two types.
    public mutating func nextIsString() -> Bool {
        skipWhitespace()
        return peek() == UInt8(ascii: "\"")
    }

    /// Whether the next value is an array, without reading it.
    public mutating func nextIsArray() -> Bool {
        skipWhitespace()
        return peek() == UInt8(ascii: "[")
    }

    /// True (and consumed) when the next value is `null`.
    public mutating func readNull() throws(WireJSONError) -> Bool {
        skipWhitespace()
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// Skips one value of any kind: fields a newer peer sends and this version does not know.
    public mutating func skipValue() throws(WireJSONError) {
        skipWhitespace()
        switch peek() ?? 0 {
        case UInt8(ascii: "{"): try readObject { (reader: inout JSONReader, _) throws(WireJSONError) in try reader.skipValue() }
        case UInt8(ascii: "["): try readArray { (reader: inout JSONReader) throws(WireJSONError) in try reader.skipValue() }
        case UInt8(ascii: "\""): _ = try readStringBody()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
        default: throw syntax("expected a value")
        }
    }

    // MARK: Scalars

    public mutating func readString() throws(WireJSONError) -> String {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw wrongType("expected a string") }
        return try readStringBody()
    }

    /// A string, shared through `strings` with an equal one read before when it has no escapes and is ASCII.
    public mutating func readString(sharing strings: inout SharedStrings) throws(WireJSONError) -> String {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw wrongType("expected a string") }
        if let plain = readPlainString() { return strings.string(plain) }
        return try readStringBody()
    }

    public mutating func readBool() throws(WireJSONError) -> Bool {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "t"):
            try literal("true")
            return true
        case UInt8(ascii: "f"):
            try literal("false")
            return false
        default: throw wrongType("expected true or false")
        }
    }

    /// An integer; a fraction, an exponent or a value beyond 64 bits is the wrong type.
    public mutating func readInt64() throws(WireJSONError) -> Int64 {
        skipWhitespace()
        let start = index
        var negative = false
        if peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard let first = peek(), first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            index = start
            throw wrongType("expected an integer")
        }
        if first == UInt8(ascii: "0"), let next = peek(at: index + 1), next >= UInt8(ascii: "0"), next <= UInt8(ascii: "9") {
            throw syntax("a number may not start with 0")
        }
        var value: Int64 = 0
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !o1, !o2 else { throw wrongType("the number does not fit in 64 bits") }
            value = sum
            index += 1
        }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw wrongType("expected an integer, not a fraction")
        }
        return value
    }

    public mutating func readInt() throws(WireJSONError) -> Int {
        let value = try readInt64()
        guard let int = Int(exactly: value) else { throw wrongType("the number is too large") }
        return int
    }

    public mutating func readInt32() throws(WireJSONError) -> Int32 {
        let value = try readInt64()
        guard let int = Int32(exactly: value) else { throw wrongType("the number does not fit in 32 bits") }
        return int
    }

    // MARK: Bytes

    private mutating func enter() throws(WireJSONError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw syntax("objects and arrays are nested more than \(Self.maxDepth) deep") }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }
    private func peek(at position: Int) -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(WireJSONError) {
        skipWhitespace()
        guard peek() == byte else {
            if peek() == nil { throw syntax("the document ends early") }
            throw wrongType("expected \(what)")
        }
        index += 1
    }

    private mutating func literal(_ word: StaticString) throws(WireJSONError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw syntax("the document ends early") }
        for k in 0..<count where bytes[index + k] != word.utf8Start[k] { throw syntax("expected \(word)") }
        index += count
    }

    private mutating func skipNumber() throws(WireJSONError) {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        var digits = 0
        while let byte = peek() {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): break
            default:
                guard digits > 0 else { throw syntax("a malformed number at byte \(start)") }
                return
            }
            index += 1
        }
        guard digits > 0 else { throw syntax("a malformed number at byte \(start)") }
    }

    /// Reads an object's key starting at its opening quote: the key's bytes in the document, unless it has escapes.
    private mutating func readKey() throws(WireJSONError) -> JSONKey {
        if let plain = readPlainString() { return JSONKey(bytes: plain) }
        return JSONKey(string: try readStringBody())
    }

    /// At a string's opening quote: its bytes in the document, and the reader past its closing quote, when it is plain
    /// ASCII without escapes (ids, keys); nil, and the reader where it was, otherwise.
    private mutating func readPlainString() -> UnsafeBufferPointer<UInt8>? {
        var position = index + 1
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let plain = UnsafeBufferPointer(rebasing: bytes[(index + 1)..<position])
                index = position + 1
                return plain
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { return nil }
            position += 1
        }
        return nil
    }

    /// Reads a string starting at its opening quote. Strings without escapes, the usual case, are copied in one step,
    /// and when they are ASCII (ids, numbers' text) without a second pass to validate them.
    private mutating func readStringBody() throws(WireJSONError) -> String {
        index += 1
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii {
                    return String(unsafeUninitializedCapacity: slice.count) {
                        _ = $0.initialize(fromContentsOf: slice); return slice.count
                    }
                }
                guard let text = String(validating: slice, as: UTF8.self) else { throw syntax("a string is not valid UTF-8") }
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw syntax("a control character inside a string") }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        var scalars = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: scalars, as: UTF8.self) else { throw syntax("a string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = peek() else { throw syntax("the document ends early") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = UInt32(try readHex4())
                    if (0xD800..<0xDC00).contains(code) {
                        guard peek() == UInt8(ascii: "\\"), peek(at: index + 1) == UInt8(ascii: "u") else {
                            throw syntax("a lone surrogate in a string")
                        }
                        index += 2
                        let low = UInt32(try readHex4())
                        guard (0xDC00..<0xE000).contains(low) else { throw syntax("a lone surrogate in a string") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw syntax("a lone surrogate in a string") }
                    scalars.append(contentsOf: UTF8.encode(scalar)!)
                default: throw syntax("an unknown escape in a string")
                }
            default:
                if byte < 0x20 { throw syntax("a control character inside a string") }
                scalars.append(byte)
            }
        }
        throw syntax("a string is not closed")
    }

    private mutating func readHex4() throws(WireJSONError) -> UInt16 {
        guard index + 4 <= bytes.count else { throw syntax("the document ends early") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw syntax("a bad \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    private func syntax(_ detail: String) -> WireJSONError {
        WireJSONError(.syntax, index < bytes.count ? "\(detail) at byte \(index)" : detail)
    }

    private func wrongType(_ detail: String) -> WireJSONError { WireJSONError(.wrongType, detail) }
}

/// Writes JSON into a byte buffer.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether a value is being written inside an object or array, and whether one came before it there; the
    /// enclosing container's state waits on the stack of `object`/`array` (no array of flags to grow and check).
    private var inContainer = false
    private var needsComma = false

    public init(capacity: Int = 1 << 12) { bytes.reserveCapacity(capacity) }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        container(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), body)
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        container(open: UInt8(ascii: "["), close: UInt8(ascii: "]"), body)
    }

    private mutating func container(open: UInt8, close: UInt8, _ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(open)
        let outer = (inContainer, needsComma)
        (inContainer, needsComma) = (true, false)
        body(&self)
        (inContainer, needsComma) = outer
        bytes.append(close)
    }

    /// Starts a member of the enclosing object; follow it with exactly one value.
    public mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        // The value that follows needs no comma of its own.
        pendingValueAfterKey = true
    }

    private var pendingValueAfterKey = false

    public mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        // Nearly every string (ids, versions) needs no escape: then it is appended in one step.
        let plain = value.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain == true {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            let escape: UInt8
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): escape = byte
            case 0x0A: escape = UInt8(ascii: "n")
            case 0x0D: escape = UInt8(ascii: "r")
            case 0x09: escape = UInt8(ascii: "t")
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(hex.utf8Start[Int(byte >> 4)])
                bytes.append(hex.utf8Start[Int(byte & 15)])
                continue
            default:
                bytes.append(byte)
                continue
            }
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(escape)
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Not generic: a generic writer called from another module runs unspecialised, through the protocols' witness
    /// tables, several times slower.
    public mutating func int(_ value: Int) { int(Int64(value)) }

    public mutating func int(_ value: Int32) { int(Int64(value)) }

    public mutating func int(_ value: Int64) {
        separate()
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        // The digits from the right into a buffer on the stack (20 at most), then appended at once.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    private mutating func separate() {
        if pendingValueAfterKey {
            pendingValueAfterKey = false
            return
        }
        guard inContainer else { return }
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
    }
}
