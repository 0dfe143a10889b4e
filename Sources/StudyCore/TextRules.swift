/// The rule every free-text field of a request follows (names, deck text): a length in characters, and no control
/// characters (a NUL among them, which PostgreSQL cannot store and C libraries read as the end), except line breaks and
/// tabs where the field is text a person writes over several lines.
public enum TextRule {
    /// A sentence naming the field and its rule when `value` breaks it; nil when it is fine.
    public static func problem(_ value: String, field: String, characters: ClosedRange<Int>, multiline: Bool = false) -> String? {
        let allowed = characters
        // Bytes bound the work of counting characters in a hostile megabyte: a character is at least one byte.
        guard value.utf8.count <= allowed.upperBound * 16, allowed.contains(value.count) else {
            return "\(field) must be \(allowed.lowerBound) to \(allowed.upperBound) characters."
        }
        if let bad = value.unicodeScalars.first(where: { isControl($0, multiline: multiline) }) {
            let hex = String(bad.value, radix: 16, uppercase: true)
            let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            return "\(field) must not hold control characters (it holds \(code))\(multiline ? "; line breaks and tabs are allowed" : "")."
        }
        return nil
    }

    static func isControl(_ scalar: Unicode.Scalar, multiline: Bool) -> Bool {
        if multiline && (scalar == "\n" || scalar == "\t" || scalar == "\r") { return false }
        return scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
