import StudyCore

/// The column form of a page of attempts (PROTOCOL.md, "The column form"): one array per field instead of one array
/// per attempt, times and sequence numbers as differences from the one before, the device, question, version and
/// session ids as positions in `strings`, and each id a device made as devices make them
/// (`UUIDv7.make(milliseconds:counter:device:)`) as the step of its counter. A column of small, similar numbers is what
/// compression shrinks best: a compressed page costs a few bytes per attempt instead of a few dozen.
enum AttemptColumns {
    /// Whether `attempts` can be written in this form: every time within 0...AttemptRules.latestTime, so differences
    /// of them never overflow. (An attempt outside it is one the server rejects; such a page goes in the row form.)
    static func canWrite(_ attempts: [Attempt]) -> Bool {
        attempts.allSatisfy { (0...AttemptRules.latestTime).contains($0.answeredAt) }
    }

    /// Writes the columns of `attempts`; `seq` and `flags` (one per attempt) are written too when given (a pulled page).
    static func write(_ attempts: [Attempt], seq: [Int64]? = nil, flags: [Int32]? = nil, to json: inout JSONWriter) {
        var table = StringTable()
        var positions = [Int](repeating: 0, count: attempts.count * 4)
        // A page's attempts mostly repeat the device and session of the one before: compared, not hashed again.
        var lastDevice = "", lastDevicePosition = -1, lastSession = "", lastSessionPosition = -1
        for i in attempts.indices {
            if lastDevicePosition < 0 || attempts[i].deviceID != lastDevice {
                lastDevice = attempts[i].deviceID
                lastDevicePosition = table.position(of: lastDevice)
            }
            positions[4 * i] = lastDevicePosition
            positions[4 * i + 1] = table.position(of: attempts[i].questionID)
            positions[4 * i + 2] = table.position(of: attempts[i].questionVersion)
            if lastSessionPosition < 0 || attempts[i].sessionID != lastSession {
                lastSession = attempts[i].sessionID
                lastSessionPosition = table.position(of: lastSession)
            }
            positions[4 * i + 3] = lastSessionPosition
        }
        let count = attempts.count
        json.object { json in
            json.key("strings")
            json.array { json in for string in table.strings { json.string(string) } }
            var counter = 0
            column(&json, "id", count) { json, i in
                let attempt = attempts[i]
                if let made = UUIDv7.counter(of: attempt.id, milliseconds: attempt.answeredAt, device: attempt.deviceID) {
                    json.int((made - counter) & UUIDv7.counterMask)
                    counter = made
                } else {
                    json.string(attempt.id)
                }
            }
            column(&json, "device", count) { json, i in json.int(positions[4 * i]) }
            column(&json, "question", count) { json, i in json.int(positions[4 * i + 1]) }
            column(&json, "version", count) { json, i in json.int(positions[4 * i + 2]) }
            column(&json, "session", count) { json, i in json.int(positions[4 * i + 3]) }
            column(&json, "chosen", count) { json, i in
                let chosen = attempts[i].chosen
                if chosen.count == 1 { json.int(chosen[0]) } else { json.array { json in for option in chosen { json.int(option) } } }
            }
            column(&json, "correct", count) { json, i in json.int(attempts[i].correct ? 1 : 0) }
            column(&json, "answeredAt", count) { json, i in
                json.int(i == 0 ? attempts[i].answeredAt : attempts[i].answeredAt - attempts[i - 1].answeredAt)
            }
            column(&json, "durationMs", count) { json, i in json.int(attempts[i].durationMs) }
            if let seq, seq.count == count {
                column(&json, "seq", count) { json, i in json.int(i == 0 ? seq[i] : seq[i] &- seq[i - 1]) }
            }
            if let flags, flags.count == count {
                column(&json, "flags", count) { json, i in json.int(Int64(flags[i])) }
            }
        }
    }

    private static func column(_ json: inout JSONWriter, _ name: StaticString, _ count: Int, _ value: (inout JSONWriter, Int) -> Void) {
        json.key(name)
        json.array { json in for i in 0..<count { value(&json, i) } }
    }

    /// A page read from the column form: its attempts, and their sequence numbers and flags when it carried them.
    struct Page {
        var attempts: [Attempt]
        var seq: [Int64]?
        var flags: [Int32]?
    }

    /// Reads the columns `write` writes, in any order; every column holds one value per attempt, at most `limit` of
    /// them (`strings` at most four per attempt).
    static func read(from json: inout JSONReader, limit: Int = .max) throws(WireJSONError) -> Page {
        let stringLimit = limit > Int.max / 4 ? Int.max : limit * 4
        var strings: [String]?, ids: [IDValue]?, device: [Int]?, question: [Int]?, version: [Int]?, session: [Int]?
        var chosen: [[Int]]?, correct: [Bool]?, answeredAt: [Int64]?, durationMs: [Int64]?, seq: [Int64]?, flags: [Int32]?
        try json.readObject { (json: inout JSONReader, key: JSONKey) throws(WireJSONError) in
            switch key {
            case "strings":
                strings = try json.readArray(atMost: stringLimit) { (json: inout JSONReader) throws(WireJSONError) in try json.readString() }
            case "id":
                ids = try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) -> IDValue in
                    if json.nextIsString() { return .id(try json.readString()) }
                    let step = try json.readInt()
                    guard (0...UUIDv7.counterMask).contains(step) else {
                        throw WireJSONError(.wrongType, "a counter step is 0 to \(UUIDv7.counterMask)", path: [])
                    }
                    return .step(step)
                }
            case "device": device = try readPositions(&json, limit)
            case "question": question = try readPositions(&json, limit)
            case "version": version = try readPositions(&json, limit)
            case "session": session = try readPositions(&json, limit)
            case "chosen":
                chosen = try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) -> [Int] in
                    if json.nextIsArray() { return try Attempt.readChosen(from: &json) }
                    let option = try json.readInt()
                    return Attempt.oneOption(option) ?? [option]
                }
            case "correct":
                correct = try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) -> Bool in
                    switch try json.readInt() {
                    case 0: return false
                    case 1: return true
                    default: throw WireJSONError(.wrongType, "correct is 1 or 0", path: [])
                    }
                }
            case "answeredAt": answeredAt = try readSums(&json, limit)
            case "durationMs":
                durationMs = try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) in try json.readInt64() }
            case "seq": seq = try readSums(&json, limit)
            case "flags": flags = try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) in try json.readInt32() }
            default: try json.skipValue()
            }
        }
        let table = try required(strings, "strings"), idColumn = try required(ids, "id")
        let count = idColumn.count
        func checked<T>(_ column: [T]?, _ name: String) throws(WireJSONError) -> [T] {
            let column = try required(column, name)
            guard column.count == count else {
                throw WireJSONError(.wrongType, "it holds \(column.count) values, and 'id' \(count): one per attempt", path: [name])
            }
            return column
        }
        let devices = try checked(device, "device"), questions = try checked(question, "question")
        let versions = try checked(version, "version"), sessions = try checked(session, "session")
        let chosens = try checked(chosen, "chosen"), corrects = try checked(correct, "correct")
        let times = try checked(answeredAt, "answeredAt"), durations = try checked(durationMs, "durationMs")
        func string(_ column: [Int], _ name: String, _ i: Int) throws(WireJSONError) -> String {
            guard table.indices.contains(column[i]) else {
                throw WireJSONError(.wrongType, "\(column[i]) is not a position in 'strings' (it holds \(table.count))", path: [name, "[\(i)]"])
            }
            return table[column[i]]
        }
        var attempts: [Attempt] = []
        attempts.reserveCapacity(count)
        var counter = 0
        for i in 0..<count {
            let deviceID = try string(devices, "device", i)
            let id: String
            switch idColumn[i] {
            case .id(let given): id = given
            case .step(let step):
                counter = (counter + step) & UUIDv7.counterMask
                guard let made = UUIDv7.make(milliseconds: times[i], counter: counter, device: deviceID) else {
                    throw WireJSONError(
                        .wrongType, "a counter step needs the attempt's device id to be a UUID and its answeredAt a time", path: ["id", "[\(i)]"])
                }
                id = made
            }
            attempts.append(
                Attempt(
                    id: id, deviceID: deviceID, questionID: try string(questions, "question", i), questionVersion: try string(versions, "version", i),
                    chosen: chosens[i], correct: corrects[i], answeredAt: times[i], durationMs: durations[i],
                    sessionID: try string(sessions, "session", i)))
        }
        return Page(
            attempts: attempts, seq: try seq.map { (column) throws(WireJSONError) in try checked(column, "seq") },
            flags: try flags.map { (column) throws(WireJSONError) in try checked(column, "flags") })
    }

    private enum IDValue {
        case id(String)
        case step(Int)
    }

    private static func readPositions(_ json: inout JSONReader, _ limit: Int) throws(WireJSONError) -> [Int] {
        try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) in try json.readInt() }
    }

    /// A column of differences as the values they add up to (the first is the value itself); a sum past 64 bits is an
    /// error naming the position.
    private static func readSums(_ json: inout JSONReader, _ limit: Int) throws(WireJSONError) -> [Int64] {
        var total: Int64 = 0, first = true
        return try json.readArray(atMost: limit) { (json: inout JSONReader) throws(WireJSONError) -> Int64 in
            let difference = try json.readInt64()
            if first {
                first = false
                total = difference
            } else {
                let (sum, overflow) = total.addingReportingOverflow(difference)
                guard !overflow else { throw WireJSONError(.wrongType, "the differences add up past 64 bits", path: []) }
                total = sum
            }
            return total
        }
    }

    private static func required<T>(_ value: T?, _ key: String) throws(WireJSONError) -> T {
        guard let value else { throw WireJSONError(.missingField, "", path: [key]) }
        return value
    }
}

/// The strings of a page, each written once, and their positions.
struct StringTable {
    private(set) var strings: [String] = []
    private var positions: [String: Int] = [:]

    mutating func position(of value: String) -> Int {
        if let known = positions[value] { return known }
        strings.append(value)
        positions[value] = strings.count - 1
        return strings.count - 1
    }
}
