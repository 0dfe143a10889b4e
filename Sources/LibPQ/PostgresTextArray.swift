/// Reads a one-dimensional array in PostgreSQL's text output form: `{a,"b c","d\"e",NULL}`.
public enum PostgresTextArray {
    public static func parse(_ text: String) throws -> [String] {
        var chars = Substring(text)
        guard chars.first == "{", chars.last == "}" else {
            throw PostgresError(kind: .decoding, message: "'\(text.prefix(40))' is not a PostgreSQL array.")
        }
        chars = chars.dropFirst().dropLast()
        var elements: [String] = []
        var current = ""
        var quoted = false, wasQuoted = false, escaped = false
        for c in chars {
            if escaped {
                current.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == "\"" {
                quoted.toggle()
                wasQuoted = true
            } else if c == "," && !quoted {
                elements.append(current)
                current = ""
                wasQuoted = false
            } else {
                current.append(c)
            }
        }
        if !chars.isEmpty || wasQuoted { elements.append(current) }
        return elements
    }
}
