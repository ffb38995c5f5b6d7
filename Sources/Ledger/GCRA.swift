/// Generic Cell Rate Algorithm: a rolling-window rate limit with one number of state per key,
/// the theoretical arrival time (TAT). `burst` requests may come back to back from idle; after
/// that one every `60 s / ratePerMinute`. Limited requests learn the exact wait.
enum GCRA {
    struct Decision: Equatable {
        var allowed: Bool
        /// The TAT to store if the request goes ahead (microseconds).
        var newTat: Int64
        /// When limited: microseconds until a request would be allowed.
        var retryAfterMicros: Int64
    }

    /// All times in microseconds.
    static func check(tat: Int64?, nowMicros: Int64, ratePerMinute: UInt32, burst: UInt32) -> Decision {
        precondition(ratePerMinute > 0 && burst > 0)
        let interval = (60_000_000 + Int64(ratePerMinute) - 1) / Int64(ratePerMinute)
        let tolerance = interval * Int64(burst)
        let base = max(tat ?? nowMicros, nowMicros)
        let newTat = base + interval
        if newTat - nowMicros > tolerance {
            return Decision(allowed: false, newTat: base, retryAfterMicros: newTat - tolerance - nowMicros)
        }
        return Decision(allowed: true, newTat: newTat, retryAfterMicros: 0)
    }
}
