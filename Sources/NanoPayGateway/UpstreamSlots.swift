import NanoPayCore

/// Concurrent requests per upstream, bounded: beyond `maxConcurrentRequests` the gateway answers
/// 503 with Retry-After before it reserves anything, so an overloaded upstream holds no buyer's funds.
final class UpstreamSlots: Sendable {
    private let inUse = Locked<[String: Int]>([:])

    /// A taken slot; released once, by `release()` or when the last reference goes away (a
    /// response body that is never written must not leak its slot).
    final class Lease: Sendable {
        let slots: UpstreamSlots
        let upstream: String
        private let released = Locked(false)
        init(_ slots: UpstreamSlots, _ upstream: String) { self.slots = slots; self.upstream = upstream }
        func release() {
            guard released.withLock({ r in defer { r = true }; return !r }) else { return }
            slots.inUse.withLock { $0[upstream, default: 1] -= 1 }
        }
        deinit { release() }
    }

    func acquire(_ upstream: String, limit: Int) -> Lease? {
        let ok = inUse.withLock { m in
            guard m[upstream, default: 0] < limit else { return false }
            m[upstream, default: 0] += 1
            return true
        }
        return ok ? Lease(self, upstream) : nil
    }

    func count(_ upstream: String) -> Int { inUse.withLock { $0[upstream, default: 0] } }
}
