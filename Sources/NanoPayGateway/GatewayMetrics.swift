import Metrics
import Prometheus

/// The gateway's metrics, through swift-metrics and exported by swift-prometheus at `/metrics`.
/// Labels are route patterns, upstream names and stable outcome codes, never client data.
public enum GatewayMetrics {
    public static let registry = PrometheusCollectorRegistry()

    private static let bootstrapped: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                                   .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                                   .seconds(1), .seconds(5), .seconds(30), .seconds(120), .seconds(600)]
        MetricsSystem.bootstrap(factory)
    }()

    /// Installs the Prometheus backend, once per process.
    public static func bootstrap() { _ = bootstrapped }

    /// One request, by how it was served or refused: free, paid, ticket, replayed, not_found,
    /// busy, or a stable code (payment_required, offer_mismatch, upstream_timeout, …). A free or
    /// ticket request the upstream then fails counts once as forwarded and once by its failure.
    static func request(outcome: String) { Counter(label: "nanopay_gateway_requests_total", dimensions: [("outcome", outcome)]).increment() }
    static func paid(route: String) { Counter(label: "nanopay_gateway_paid_total", dimensions: [("route", route)]).increment() }
    static func captured(upstream: String) { Counter(label: "nanopay_gateway_captured_total", dimensions: [("upstream", upstream)]).increment() }
    static func voided(upstream: String, reason: String) {
        Counter(label: "nanopay_gateway_voided_total", dimensions: [("upstream", upstream), ("reason", reason)]).increment()
    }
    static func upstreamLatency(upstream: String, nanoseconds: Int64) {
        Timer(label: "nanopay_gateway_upstream_duration_seconds", dimensions: [("upstream", upstream)]).recordNanoseconds(nanoseconds)
    }
    static func upstreamBytes(upstream: String, bytes: Int) {
        Counter(label: "nanopay_gateway_upstream_response_bytes_total", dimensions: [("upstream", upstream)]).increment(by: bytes)
    }

    public static func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
