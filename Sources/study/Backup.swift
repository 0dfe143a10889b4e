import ArgumentParser
import Foundation
import StudyClient
import StudyCore

struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export or import all attempts as JSON Lines, one attempt per line in its sync wire shape.",
        subcommands: [Export.self, Import.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write every attempt to FILE (- for standard output).")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The file to write.") var file: String

        func run() throws {
            let attempts = try options.openStoreForReading().attempts()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var text = ""
            for attempt in attempts { text += String(decoding: try encoder.encode(attempt), as: UTF8.self) + "\n" }
            if file == "-" {
                Terminal.say(text, terminator: "")
                return
            }
            do { try text.write(toFile: file, atomically: true, encoding: .utf8) } catch {
                throw CLIError("Cannot write \(file): \(error.localizedDescription).")
            }
            Terminal.say("Exported \(attempts.count) attempts to \(file).")
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge the attempts in FILE into this home; importing twice changes nothing. A file with a bad line is refused whole.")
        @OptionGroup var options: HomeOptions
        @Argument(help: "The JSON Lines file (- for standard input).") var file: String

        func run() throws {
            let text = try readText(file)
            var attempts: [Attempt] = []
            var problems: [String] = []
            let decoder = JSONDecoder()
            for (offset, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
                if line.allSatisfy(\.isWhitespace) { continue }
                do {
                    let attempt = try decoder.decode(Attempt.self, from: Data(line.utf8))
                    if let problem = attempt.problems.first {
                        problems.append("line \(offset + 1): \(problem)")
                    } else {
                        attempts.append(attempt)
                    }
                } catch {
                    problems.append("line \(offset + 1): not an attempt in the backup's JSON shape")
                }
            }
            guard problems.isEmpty else {
                let shown = problems.prefix(20).map { "  \($0)" }.joined(separator: "\n")
                let more = problems.count > 20 ? "\n  … and \(problems.count - 20) more" : ""
                throw CLIError(
                    "\(file) was not imported: it has \(problems.count) bad line\(problems.count == 1 ? "" : "s"); fix or remove them and try again.\n\(shown)\(more)"
                )
            }
            let merge = try options.openStore().merge(attempts)
            Terminal.say("Imported \(merge.inserted) new attempts; \(merge.duplicates) were already here.")
            if !merge.conflicts.isEmpty {
                throw CLIError(
                    "\(merge.conflicts.count) attempts in \(file) differ from attempts already here under the same id; the local copies were kept and those lines were not imported: \(merge.conflicts.prefix(5).joined(separator: ", "))."
                )
            }
        }
    }
}
