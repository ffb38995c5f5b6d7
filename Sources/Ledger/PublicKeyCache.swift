import NanoPayCore

/// Payers' registered keys in memory: every payment needs its payer's key before the signature
/// check, and keys change only by a deposit that registers one or an operator's rotation.
///
/// Those writes drop the address once committed, and bump `generation`. A reader that missed
/// notes the generation before it reads SQLite and inserts what it read only if no key changed
/// meanwhile, so a read that raced a rotation cannot put the old key back. A stale key can only
/// ever make a payment fail: the writer compares the verified key with the registered one.
final class PublicKeyCache: Sendable {
    private struct State {
        var keys: [String: [UInt8]] = [:]
        var generation: UInt64 = 0
    }
    private let state = Locked(State())
    /// Entries kept; past it the cache starts over (cheap, and bounded memory).
    let capacity: Int

    init(capacity: Int = 200_000) { self.capacity = capacity }

    func cached(_ address: String) -> [UInt8]? { state.withLock { $0.keys[address] } }

    var generation: UInt64 { state.withLock { $0.generation } }

    func insert(_ address: String, _ key: [UInt8], ifStillAt generation: UInt64) {
        state.withLock { s in
            guard s.generation == generation else { return }
            if s.keys.count >= capacity { s.keys.removeAll(keepingCapacity: true) }
            s.keys[address] = key
        }
    }

    func invalidate(_ address: String) {
        state.withLock { s in
            s.keys[address] = nil
            s.generation &+= 1
        }
    }
}
