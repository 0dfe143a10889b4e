import Foundation
import StudyCore

#if canImport(Glibc)
    import Glibc
#endif

/// Terminal output: colour only on a terminal and never with `NO_COLOR`; JSON with stable key order.
enum Terminal {
    static let colour: Bool = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static let interactive: Bool = isatty(STDIN_FILENO) == 1

    static func green(_ s: String) -> String { colour ? "\u{1B}[32m\(s)\u{1B}[0m" : s }
    static func red(_ s: String) -> String { colour ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    static func bold(_ s: String) -> String { colour ? "\u{1B}[1m\(s)\u{1B}[0m" : s }
    static func dim(_ s: String) -> String { colour ? "\u{1B}[2m\(s)\u{1B}[0m" : s }

    /// Prints and flushes, so piped readers see each line as it is written.
    static func say(_ s: String = "", terminator: String = "\n", toError: Bool = false) {
        if toError {
            FileHandle.standardError.write(Data((s + terminator).utf8))
        } else {
            print(s, terminator: terminator)
            fflush(nil)
        }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(value), as: UTF8.self)
    }

    /// A local date and time, to the minute.
    static func time(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    static func percent(_ share: Double?) -> String {
        guard let share else { return "-" }
        return "\(Int((share * 100).rounded()))%"
    }

    /// A bar of `width` cells, `part` of `whole` filled.
    static func bar(_ part: Int, of whole: Int, width: Int = 20) -> String {
        let filled = whole == 0 ? 0 : Int((Double(part) / Double(whole) * Double(width)).rounded())
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        return colour ? "\u{1B}[32m" + bar.prefix(filled) + "\u{1B}[0m" + bar.dropFirst(filled) : bar
    }

    /// Aligns columns: text left, numbers right.
    static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> String {
        let widths = header.indices.map { i in ([header] + rows).map { $0[i].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingWhitespaceAtEnd()
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// One line of at most `width` characters.
    static func clip(_ s: String, _ width: Int) -> String {
        let flat = QuestionIdentity.normalise(s)
        return flat.count <= width ? flat : String(flat.prefix(width - 1)) + "…"
    }
}

extension String {
    func trimmingWhitespaceAtEnd() -> String {
        var s = self
        while s.last?.isWhitespace == true { s.removeLast() }
        return s
    }
}
