import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import StudyAPI

/// Limits on connections, against clients that hold them open without finishing a request (issue 15: 2,000 connections
/// that sent headers and never a body were held for minutes, and 1,100 of them starved `/healthz` of descriptors).
public struct ConnectionLimits: Sendable {
    /// Open connections at most; the next is answered 503 `too_many_connections` and closed at once.
    public var maxConnections = 512
    /// A new connection must finish its first request's head within this, else 408 `request_timeout`.
    public var headTimeout: TimeAmount = .seconds(10)
    /// A request body may pause at most this long between two reads, else 408 `request_timeout`.
    public var bodyIdleTimeout: TimeAmount = .seconds(30)
    /// A keep-alive connection with no request in progress is closed after this long.
    public var idleTimeout: TimeAmount = .seconds(60)

    public init() {}
}

/// Counts the server's open connections, shared by every connection's `ConnectionGuard`.
final class ConnectionCounter: Sendable {
    private let count = NIOLockedValueBox(0)

    /// Counts one more connection; false when that is past `limit` (it is then counted all the same, until it closes).
    func open(limit: Int) -> Bool {
        count.withLockedValue {
            $0 += 1; return $0 <= limit
        }
    }
    func close() { count.withLockedValue { $0 -= 1 } }
    var current: Int { count.withLockedValue { $0 } }
}

/// Sits after the HTTP decoder on every connection and answers, as JSON like every other error, what Hummingbird would
/// otherwise answer with an empty 400 or silence: a connection past the cap (503), a head or a body that does not come
/// in time (408), a head too large (431) or a request that is not HTTP (400). Each closes the connection.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private var counted = false
    private var timer: Scheduled<Void>?
    /// Whether a request's head has come and its end not yet.
    private var readingBody = false
    private var answered = false

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if !counted { start(context) }
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        counted = true
        guard counter.open(limit: limits.maxConnections) else {
            refuse(
                context, .serviceUnavailable, "too_many_connections",
                "The server has as many connections as it serves at once; try again in a few seconds.", retryAfter: 5)
            return
        }
        arm(context, after: limits.headTimeout, status: .requestTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch unwrapInboundIn(data) {
        case .head:
            readingBody = true
            arm(context, after: limits.bodyIdleTimeout, status: .requestTimeout)
        case .body:
            arm(context, after: limits.bodyIdleTimeout, status: .requestTimeout)
        case .end:
            readingBody = false
            timer?.cancel()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // After a response ends, an idle keep-alive connection is closed quietly after `idleTimeout`.
        if case .end = unwrapOutboundIn(data), !readingBody { arm(context, after: limits.idleTimeout, status: nil) }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError, !answered else {
            context.fireErrorCaught(error)
            return
        }
        if case .headerOverflow = parse {
            refuse(
                context, .init(code: 431), "headers_too_large",
                "The request's headers are larger than the server reads (80 KiB); send fewer or shorter ones.")
        } else {
            refuse(context, .badRequest, "bad_request", "The request is not valid HTTP/1.1; see GET /v1/openapi.json for the API.")
        }
    }

    /// After `delay` without a read: a JSON `status` and the connection closed (or only closed, when `status` is nil).
    private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount, status: HTTPResponse.Status?) {
        timer?.cancel()
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = loopBound.value
            guard !handler.answered else { return }
            if let status {
                handler.refuse(
                    context, status, "request_timeout",
                    "The request did not arrive in time (\(delay.nanoseconds / 1_000_000_000) seconds without data); send it again.")
            } else {
                context.close(promise: nil)
            }
        }
    }

    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) {
        answered = true
        timer?.cancel()
        let body = (try? JSONEncoder().encode(ErrorBody(error: code, message: message, field: nil))) ?? Data()
        var fields: HTTPFields = [.contentType: "application/json; charset=utf-8", .contentLength: String(body.count), .connection: "close"]
        if let retryAfter { fields[.retryAfter] = String(retryAfter) }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(bytes: body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    private func release() {
        timer?.cancel()
        if counted {
            counted = false
            counter.close()
        }
    }
}
