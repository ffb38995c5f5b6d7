import NanoPayCore

/// Payers' registered keys in memory, each for a bounded time: a rotation committed by another
/// replica reaches this one within `lifetimeMilliseconds`. A stale key can only make a payment
/// fail: `np_record` compares the verified key with the registered one under the payer's lock.
final class KeyCache: Sendable {
    private struct Entry { var key: [UInt8]; var fetchedAt: ContinuousClock.Instant }
    private struct State { var entries: [String: Entry] = [:]; var generation: UInt64 = 0 }
    private let state = Locked(State())
    private let lifetime: Duration
    private let capacity = 200_000

    init(lifetimeMilliseconds: UInt64) { lifetime = .milliseconds(Int64(clamping: lifetimeMilliseconds)) }

    func cached(_ address: String) -> [UInt8]? {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard let e = s.entries[address], now - e.fetchedAt < lifetime else { return nil }
            return e.key
        }
    }

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Inserts what a read found, unless a local change came in between (then the read may be older).
    func insert(_ address: String, _ key: [UInt8], ifStillAt generation: UInt64) {
        let now = ContinuousClock.now
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.entries.count >= capacity { s.entries.removeAll(keepingCapacity: true) }
            s.entries[address] = Entry(key: key, fetchedAt: now)
        }
    }

    /// Forgets one address without invalidating reads in flight for others.
    func remove(_ address: String) { state.withLock { _ = $0.entries.removeValue(forKey: address) } }

    func invalidate(_ address: String) {
        state.withLock { s in
            s.entries[address] = nil
            s.generation &+= 1
        }
    }
}
