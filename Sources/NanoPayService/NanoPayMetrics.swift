import Metrics
import Prometheus

/// The process's metrics: swift-metrics, exported by swift-prometheus. Events (HTTP requests by
/// route pattern and status, payment outcomes, commit batch sizes) are swift-metrics counters
/// and histograms; levels (writer queue depth, pending holds, storage health) are gauges set
/// when `/metrics` is scraped. Labels are route patterns and stable codes, never client data.
public enum NanoPayMetrics {
    /// The registry `/metrics` renders.
    public static let registry = PrometheusCollectorRegistry()

    private static let bootstrapped: Void = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets[commitBatchSizeLabel] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        factory.defaultDurationHistogramBuckets = [.microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
                                                   .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                                   .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)]
        MetricsSystem.bootstrap(factory)
    }()

    /// Installs the Prometheus backend for swift-metrics, once per process (`PaymentService`
    /// does it, so anything that serves payments exports them).
    public static func bootstrap() { _ = bootstrapped }

    /// The ledger records each commit's size under this label (a `Recorder`).
    public static let commitBatchSizeLabel = "nanopay_ledger_commit_batch_size"
}
