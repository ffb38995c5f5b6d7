import Hummingbird
import NanoPayCore
import NanoPayService

/// Prometheus text exposition of request counts by route and status, the verify latency
/// histogram and ledger figures. Labels are route patterns, never raw paths or client data.
public final class HTTPMetrics: Sendable {
    private let requests = Locked<[String: UInt64]>([:])

    public init() {}

    func count(route: String, method: String, status: Int) {
        let key = "route=\"\(route)\",method=\"\(method)\",status=\"\(status)\""
        requests.withLock { $0[key, default: 0] += 1 }
    }

    func render(service: PaymentService) -> String {
        var out = "# HELP nanopay_http_requests_total HTTP requests by route pattern, method and status.\n# TYPE nanopay_http_requests_total counter\n"
        for (labels, n) in requests.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            out += "nanopay_http_requests_total{\(labels)} \(n)\n"
        }
        out += "# HELP nanopay_verify_duration_seconds Time to answer POST /verify.\n# TYPE nanopay_verify_duration_seconds histogram\n"
        let (counts, sum) = service.stats.latencySnapshot
        var cumulative: UInt64 = 0
        for (bound, c) in zip(ServiceStats.latencyBucketsMicros, counts) {
            cumulative += c
            let le = bound == .max ? "+Inf" : String(Double(bound) / 1_000_000)
            out += "nanopay_verify_duration_seconds_bucket{le=\"\(le)\"} \(cumulative)\n"
        }
        out += "nanopay_verify_duration_seconds_sum \(Double(sum) / 1_000_000)\nnanopay_verify_duration_seconds_count \(cumulative)\n"
        out += "# HELP nanopay_verify_outcomes_total Verify answers by outcome code.\n# TYPE nanopay_verify_outcomes_total counter\n"
        for (code, n) in service.stats.outcomeCounts.sorted(by: { $0.key < $1.key }) {
            out += "nanopay_verify_outcomes_total{outcome=\"\(code)\"} \(n)\n"
        }
        let t = service.totals
        let storage = service.storageStatus
        out += "# TYPE nanopay_ledger_accounts gauge\nnanopay_ledger_accounts \(t.accounts)\n"
        out += "# TYPE nanopay_ledger_payments gauge\n"
        for (status, n) in [("settled", t.paymentsSettled), ("held", t.paymentsHeld), ("approved", t.paymentsApproved),
                            ("rejected", t.paymentsRejected), ("expired", t.paymentsExpired)] {
            out += "nanopay_ledger_payments{status=\"\(status)\"} \(n)\n"
        }
        out += "# TYPE nanopay_ledger_volume_units gauge\nnanopay_ledger_volume_units \(t.volume)\n"
        out += "# TYPE nanopay_ledger_writer_queue_depth gauge\nnanopay_ledger_writer_queue_depth \(storage.writerQueueDepth)\n"
        out += "# TYPE nanopay_ledger_mean_commit_batch gauge\nnanopay_ledger_mean_commit_batch \(storage.meanBatchSize)\n"
        out += "# TYPE nanopay_storage_healthy gauge\nnanopay_storage_healthy \(storage.isHealthy ? 1 : 0)\n"
        return out
    }
}
