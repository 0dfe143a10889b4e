import Foundation
import Testing

/// One directory for this test process's homes, removed when the process exits.
let cliTestRoot: URL = {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("studysync-cli-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(at: cliTestRoot) }
    return root
}()

/// Runs the built `study` executable as a learner would, in its own home, with a pinned clock and no colour.
struct StudyProcess {
    let home: URL
    var now: Int64 = 1_780_000_000_000

    init() {
        home = cliTestRoot.appendingPathComponent(UUID().uuidString)
    }

    static var executable: URL {
        // The test bundle is built next to the products; the `study` executable sits beside it.
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("study")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return products.appendingPathComponent("study")
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["STUDY_HOME"] = home.path
        env["STUDY_NOW"] = String(now)
        env["NO_COLOR"] = "1"
        env["TZ"] = "UTC"
        return env
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    @discardableResult
    func run(_ arguments: [String], input: String = "") throws -> Output {
        try run(executable: Self.executable, arguments, input: input)
    }

    /// Runs a shell command line in this home's environment (to set limits on `study` before it starts).
    func run(shell command: String) throws -> Output {
        try run(executable: URL(fileURLWithPath: "/bin/sh"), ["-c", command])
    }

    private func run(executable: URL, _ arguments: [String], input: String = "") throws -> Output {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    func write(_ name: String, _ text: String) throws -> String {
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let url = home.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func json(_ arguments: [String]) throws -> Any {
        let output = try run(arguments)
        #expect(output.status == 0, "\(arguments): \(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }
}
