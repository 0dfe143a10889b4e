import CCurl
import Foundation

/// HTTP requests through libcurl's easy interface: `http` and `https` (the system's CA certificates), proxies from the
/// usual environment variables, connections kept alive between requests.
///
/// Why not URLSession: on Linux it drives the same libcurl through Dispatch sources and delegate hops, and in the sync
/// benchmark that machinery cost the client more CPU than everything else it did (docs/benchmarks.md).
///
/// Each request runs on a Dispatch thread, which blocks in `curl_easy_perform`, never on Swift's cooperative pool. A
/// handle is used by one request at a time; finished handles wait in `idle`, with their open connection, for the next.
final class CurlHTTPClient: HTTPTransport, @unchecked Sendable {
    typealias Response = HTTPResponseData
    typealias Failure = HTTPFailure

    // Guarded by `lock`.
    private var idle: [Handle] = []
    private let lock = NSLock()
    let timeoutSeconds: Int

    init(timeoutSeconds: Int = 60) {
        _ = Self.globalInit
        self.timeoutSeconds = timeoutSeconds
    }

    private static let globalInit: Void = { _ = curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    /// Sends one request and returns the status and body of the answer; throws `Failure` when there is no answer (no
    /// connection, nothing received for `timeoutSeconds`). Cancelling the task aborts the transfer with
    /// `CancellationError`.
    func perform(_ method: String, _ url: String, headers: [String], body: [UInt8]?) async throws -> Response {
        let transfer = Transfer()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Response, any Error>) in
                DispatchQueue.global().async {
                    continuation.resume(with: Result { try self.run(transfer, method, url, headers: headers, body: body) })
                }
            }
        } onCancel: {
            transfer.cancel()
        }
    }

    /// Blocks until the transfer ends.
    private func run(_ transfer: Transfer, _ method: String, _ url: String, headers: [String], body: [UInt8]?) throws -> Response {
        if transfer.isCancelled { throw CancellationError() }
        let handle = lock.withLock { idle.popLast() } ?? Handle()
        guard let easy = handle.easy else { throw Failure(description: "libcurl could not make a handle") }

        var list: UnsafeMutablePointer<curl_slist>?
        // "Expect:" turns off curl's wait for a "100 Continue" before sending a large body.
        for header in headers + ["Expect:"] { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }
        var errorText = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let context = Unmanaged.passUnretained(transfer).toOpaque()

        var status = 0
        let code: CURLcode = errorText.withUnsafeMutableBufferPointer { errorBuffer in
            (body ?? []).withUnsafeBufferPointer { payload in
                _ = studysync_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
                // Like URLSession's request timeout: give up when nothing moves for that long, however long a slow
                // link takes for a large page.
                _ = studysync_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1)
                _ = studysync_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, timeoutSeconds)
                _ = studysync_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT, 10)
                _ = studysync_curl_setopt_long(easy, CURLOPT_BUFFERSIZE, 256 * 1024)
                _ = studysync_curl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer.baseAddress)
                _ = url.withCString { studysync_curl_setopt_pointer(easy, CURLOPT_URL, $0) }  // libcurl copies strings
                _ = studysync_curl_setopt_pointer(easy, CURLOPT_HTTPHEADER, list)
                switch method {
                case "GET": _ = studysync_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
                case "POST": break
                default: _ = method.withCString { studysync_curl_setopt_pointer(easy, CURLOPT_CUSTOMREQUEST, $0) }
                }
                if body != nil {
                    // Sent from this buffer as it is, not copied: it outlives the transfer.
                    _ = studysync_curl_setopt_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(payload.count))
                    _ = studysync_curl_setopt_pointer(easy, CURLOPT_POSTFIELDS, payload.baseAddress ?? UnsafePointer(bitPattern: 1))
                }
                _ = studysync_curl_setopt_write(easy, CURLOPT_WRITEFUNCTION) { data, size, count, context in
                    let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
                    transfer.received.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
                    return size * count
                }
                _ = studysync_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, context)
                _ = studysync_curl_setopt_long(easy, CURLOPT_NOPROGRESS, 0)
                _ = studysync_curl_setopt_progress(easy, CURLOPT_XFERINFOFUNCTION) { context, _, _, _, _ in
                    Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue().isCancelled ? 1 : 0
                }
                _ = studysync_curl_setopt_pointer(easy, CURLOPT_XFERINFODATA, context)
                let code = curl_easy_perform(easy)
                _ = studysync_curl_response_code(easy, &status)
                // Back to default options, keeping the connection: the handle must not keep pointers to this call's
                // error buffer, body and transfer past it.
                curl_easy_reset(easy)
                return code
            }
        }
        guard code == CURLE_OK else {
            // A handle whose transfer failed is dropped with its connection; the next request opens a fresh one.
            if code == CURLE_ABORTED_BY_CALLBACK { throw CancellationError() }
            let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw Failure(description: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        lock.withLock { idle.append(handle) }
        return Response(status: status, body: transfer.received)
    }

    /// One easy handle, cleaned up with its connections when dropped.
    private final class Handle {
        let easy: UnsafeMutableRawPointer?
        init() { easy = curl_easy_init() }
        deinit { curl_easy_cleanup(easy) }
    }

    /// The state one request shares with libcurl's callbacks.
    private final class Transfer: @unchecked Sendable {
        /// Written only by the thread running the transfer.
        var received: [UInt8] = []
        private let lock = NSLock()
        private var cancelled = false

        var isCancelled: Bool { lock.withLock { cancelled } }
        func cancel() { lock.withLock { cancelled = true } }
    }
}
