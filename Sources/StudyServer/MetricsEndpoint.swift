import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// `GET /metrics` in Prometheus's text format, on a listener of its own (`--metrics-port`, bound to 127.0.0.1 unless
/// `--metrics-host` says otherwise), so that the API's port never shows them by accident. The process's metrics
/// backend must be bootstrapped with a `PrometheusMetricsFactory` over `registry` (study-server's `serve` does it).
public struct MetricsEndpoint: Sendable {
    public var host: String
    public var port: Int
    public let registry: PrometheusCollectorRegistry

    public init(host: String = "127.0.0.1", port: Int, registry: PrometheusCollectorRegistry) {
        self.host = host
        self.port = port
        self.registry = registry
    }

    /// The listener, run beside the API as one of its services.
    static func application(_ endpoint: MetricsEndpoint) -> any Service {
        let router = Router()
        let registry = endpoint.registry
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        var logger = Logger(label: "study-server.metrics")
        logger.logLevel = .notice
        return Application(
            router: router, configuration: .init(address: .hostname(endpoint.host, port: endpoint.port), serverName: "study-server-metrics"),
            logger: logger)
    }
}
