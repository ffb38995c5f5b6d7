import Metrics
import NanoPayCore

/// Outcome counters and a verify-latency histogram (log buckets), cheap enough for the hot path.
public final class ServiceStats: Sendable {
    /// Monotonic, so uptime never goes negative when the wall clock steps back (NTP, an operator).
    private let started = ContinuousClock.now
    /// Per outcome code: the count for /stats and the `nanopay_payment_outcomes_total` counter,
    /// under one lock (taken once per payment).
    private let outcomes = Locked<[String: (count: UInt64, counter: Counter)]>([:])
    /// Upper bounds in microseconds.
    public static let latencyBucketsMicros: [UInt64] = [50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 20_000, 50_000, 100_000, 250_000, 1_000_000, .max]
    private let latency = Locked<(counts: [UInt64], sumMicros: UInt64)>(([UInt64](repeating: 0, count: 19), 0))

    init() {}

    /// Whole seconds since the service started, from the monotonic clock.
    public var uptimeSeconds: UInt64 { UInt64(max(0, (ContinuousClock.now - started).components.seconds)) }

    func record(_ outcome: PaymentOutcome) {
        let key: String
        switch outcome {
        case .settled(_, let replayed): key = replayed ? "replayed" : "settled"
        case .held: key = "approval_required"
        }
        count(key)
    }

    func record(_ error: NanoPayError) { count(error.code.rawValue) }

    private func count(_ outcome: String) {
        let counter = outcomes.withLock { map in
            var entry = map[outcome] ?? (0, Counter(label: "nanopay_payment_outcomes_total", dimensions: [("outcome", outcome)]))
            entry.count += 1
            map[outcome] = entry
            return entry.counter
        }
        counter.increment()
    }

    public func recordLatency(micros: UInt64) {
        let i = Self.latencyBucketsMicros.firstIndex { micros <= $0 } ?? (Self.latencyBucketsMicros.count - 1)
        latency.withLock { $0.counts[i] += 1; $0.sumMicros &+= micros }
    }

    public var outcomeCounts: [String: UInt64] { outcomes.withLock { $0.mapValues(\.count) } }

    public var latencySnapshot: (counts: [UInt64], sumMicros: UInt64) { latency.withLock { $0 } }

    /// Quantile estimate in milliseconds (upper bound of the bucket holding it).
    public func latencyQuantileMilliseconds(_ q: Double) -> Double? {
        let (counts, _) = latencySnapshot
        let total = counts.reduce(0, +)
        guard total > 0 else { return nil }
        let target = UInt64((Double(total) * q).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() {
            seen += c
            if seen >= max(target, 1) {
                let bound = Self.latencyBucketsMicros[i]
                return bound == .max ? 1000 : Double(bound) / 1000
            }
        }
        return nil
    }
}
