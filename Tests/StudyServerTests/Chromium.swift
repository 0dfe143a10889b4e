import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Headless Chromium, driven over the DevTools protocol on a pair of pipes (`--remote-debugging-pipe`: the browser
/// reads commands on its fd 3 and writes answers on its fd 4, each a JSON text ended by a NUL). No WebDriver, no
/// websocket: only the browser Debian packages (`chromium`). Blocking reads run on a queue of their own, never on the
/// concurrency pool the server under test needs.
final class Chromium: @unchecked Sendable {
    enum Failure: Error, CustomStringConvertible {
        case spawn(Int32), closed, timeout(String), protocolError(String, String)
        var description: String {
            switch self {
            case .spawn(let code): "could not start chromium (posix_spawn: \(code))"
            case .closed: "chromium closed its pipe (see its log)"
            case .timeout(let what): "chromium did not answer \(what) in time"
            case .protocolError(let method, let message): "\(method): \(message)"
            }
        }
    }

    /// The browser to drive: `$CHROMIUM`, else Debian's or Google's where they install it.
    static var path: String? {
        let candidates =
            [ProcessInfo.processInfo.environment["CHROMIUM"]].compactMap { $0 } + [
                "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
            ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private let pid: pid_t
    private let input: Int32
    private let output: Int32
    private let queue = DispatchQueue(label: "chromium")
    private var nextID = 0
    private var pending: [UInt8] = []
    private let profile: URL

    init(path: String, log: URL) throws {
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("studysync-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        var commands: [Int32] = [0, 0]
        var answers: [Int32] = [0, 0]
        guard pipe(&commands) == 0, pipe(&answers) == 0 else { throw Failure.spawn(errno) }
        // Only the copies on fds 3 and 4 reach the browser.
        for fd in commands + answers { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, commands[0], 3)
        posix_spawn_file_actions_adddup2(&actions, answers[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let arguments = [
            path, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--hide-scrollbars", "--remote-debugging-pipe",
            "--user-data-dir=\(profile.path)", "about:blank",
        ]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, path, &actions, nil, argv, environ)
        close(commands[0])
        close(answers[1])
        guard spawned == 0 else {
            close(commands[1])
            close(answers[0])
            throw Failure.spawn(spawned)
        }
        pid = child
        input = commands[1]
        output = answers[0]
    }

    /// Sends one command (to a page's `session` when given) and waits for its answer; events in between are dropped.
    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], session: String? = nil, timeout: Double = 30) async throws -> [String: Any] {
        let body = try JSONSerialization.data(withJSONObject: params)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.exchange(method, params: body, session: session, timeout: timeout) })
            }
        }
    }

    private func exchange(_ method: String, params: Data, session: String?, timeout: Double) throws -> [String: Any] {
        nextID += 1
        let id = nextID
        var message = "{\"id\":\(id),\"method\":\"\(method)\",\"params\":\(String(decoding: params, as: UTF8.self))"
        if let session { message += ",\"sessionId\":\"\(session)\"" }
        var bytes = Array((message + "}").utf8) + [0]
        while !bytes.isEmpty {
            let written = write(input, bytes, bytes.count)
            guard written > 0 else { throw Failure.closed }
            bytes.removeFirst(written)
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let end = pending.firstIndex(of: 0) {
                let text = Array(pending[..<end])
                pending.removeFirst(end + 1)
                guard let object = try JSONSerialization.jsonObject(with: Data(text)) as? [String: Any], object["id"] as? Int == id else { continue }
                if let error = object["error"] as? [String: Any] { throw Failure.protocolError(method, "\(error["message"] ?? error)") }
                return object["result"] as? [String: Any] ?? [:]
            }
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            var poller = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&poller, 1, left) > 0 else { throw Failure.timeout(method) }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = read(output, &chunk, chunk.count)
            guard count > 0 else { throw Failure.closed }
            pending += chunk[..<count]
        }
    }

    func quit() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(input)
        close(output)
        try? FileManager.default.removeItem(at: profile)
    }
}

/// One tab of the browser.
struct BrowserPage {
    let browser: Chromium
    let session: String

    static func open(_ browser: Chromium) async throws -> BrowserPage {
        let target = try await browser.send("Target.createTarget", ["url": "about:blank"])
        let attached = try await browser.send("Target.attachToTarget", ["targetId": target["targetId"] as? String ?? "", "flatten": true])
        let page = BrowserPage(browser: browser, session: attached["sessionId"] as? String ?? "")
        try await page.send("Page.enable")
        try await page.viewport(width: 1200, height: 900, phone: false)
        return page
    }

    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:]) async throws -> [String: Any] {
        try await browser.send(method, params, session: session)
    }

    func viewport(width: Int, height: Int, phone: Bool) async throws {
        try await send(
            "Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": phone ? 2 : 1, "mobile": phone])
    }

    /// Runs `expression` in the page and returns its value (JSON-able).
    func evaluate(_ expression: String) async throws -> Any? {
        let answer = try await send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = answer["exceptionDetails"] as? [String: Any] {
            throw Chromium.Failure.protocolError("Runtime.evaluate", "\(exception["text"] ?? exception)")
        }
        return (answer["result"] as? [String: Any])?["value"]
    }

    /// Goes to `url` and waits until the page that comes (after any redirects) has loaded.
    func go(_ url: String, arrivingAt path: String? = nil) async throws {
        try await markLeaving()
        try await send("Page.navigate", ["url": url])
        try await waitUntilLoaded(at: path ?? URL(string: url)?.path ?? "/")
    }

    /// Clicks the element `selector` finds (a form's button, a link) and waits for the next page at `path`.
    func click(_ selector: String, arrivingAt path: String) async throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: [selector]), as: UTF8.self)
        try await markLeaving()
        _ = try await evaluate("document.querySelector(\(json)[0]).click(); true")
        try await waitUntilLoaded(at: path)
    }

    func fill(_ fields: [String: String]) async throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: fields), as: UTF8.self)
        _ = try await evaluate("Object.entries(\(json)).forEach(([id, v]) => { document.getElementById(id).value = v }); true")
    }

    /// Marks the page about to be left, so that `waitUntilLoaded` waits for the next one even when it has the same path
    /// (a form posted back to itself, the same page with another query): the old page, still loaded, answered at once,
    /// and the next step ran against a page being replaced.
    private func markLeaving() async throws {
        _ = try await evaluate("window.__studysyncLeaving = true; true")
    }

    func waitUntilLoaded(at path: String) async throws {
        for _ in 0..<300 {
            // During a navigation the old page's context goes away under the call: try again.
            if let state = try? await evaluate("document.readyState + ' ' + location.pathname + (window.__studysyncLeaving ? ' left' : '')")
                as? String,
                state == "complete \(path)"
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Chromium.Failure.timeout("the page \(path) (now at \(String(describing: try? await evaluate("location.href"))))")
    }

    /// What a reader sees: the body's rendered text.
    func text() async throws -> String { try await evaluate("document.body.innerText") as? String ?? "" }

    /// A PNG of the whole page.
    func screenshot(to file: URL) async throws {
        let metrics = try await send("Page.getLayoutMetrics")
        let size = metrics["cssContentSize"] as? [String: Any] ?? [:]
        let width = (size["width"] as? Double) ?? 1200
        let height = min((size["height"] as? Double) ?? 900, 6_000)
        let shot = try await send(
            "Page.captureScreenshot",
            ["format": "png", "captureBeyondViewport": true, "clip": ["x": 0, "y": 0, "width": width, "height": height, "scale": 1]])
        guard let data = Data(base64Encoded: shot["data"] as? String ?? "") else { throw Chromium.Failure.protocolError("screenshot", "no image") }
        try data.write(to: file)
    }
}
