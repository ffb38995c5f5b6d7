import NanoPayCore

/// Payments waiting for this replica's next group commit. One batch is in the database at a
/// time; whatever arrives meanwhile goes together in the next, so the batch grows with the load
/// (as SQLite's `GroupCommitWriter` does) and costs one round trip and one fsync.
final class PaymentQueue: Sendable {
    enum Mode: String, Sendable { case pay, check, reserve }

    struct Item: Sendable {
        var request: PaymentRequest
        var mode: Mode
        var holdTimeoutSeconds: UInt64
        var reservationTimeoutSeconds: UInt64 = 0
        var captureTokenHash: [UInt8] = []
        var done: @Sendable (Result<RecordedRow, NanoPayError>) -> Void
    }

    private struct State {
        var items: [Item] = []
        var running = false
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Locked(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    var depth: Int { state.withLock { $0.items.count } }

    /// Queues `items`; returns true when the caller must start the drain loop.
    func enqueue(_ items: [Item]) throws(NanoPayError) -> Bool {
        let startDrain: Bool? = state.withLock { s in
            guard s.items.count + items.count <= limit else { return nil }
            s.items.append(contentsOf: items)
            if s.running { return false }
            s.running = true
            return true
        }
        guard let startDrain else {
            throw NanoPayError(.overloaded, "the ledger's write queue is full; retry shortly", retryAfterSeconds: 1)
        }
        return startDrain
    }

    /// The next batch, or nil when the queue is empty (the drain loop then stops).
    func take(_ max: Int) -> [Item]? {
        let (batch, waiters): ([Item]?, [CheckedContinuation<Void, Never>]) = state.withLock { s in
            if s.items.isEmpty {
                s.running = false
                let w = s.drainWaiters
                s.drainWaiters = []
                return (nil, w)
            }
            let n = Swift.min(max, s.items.count)
            let batch = Array(s.items.prefix(n))
            s.items.removeFirst(n)
            return (batch, [])
        }
        for w in waiters { w.resume() }
        return batch
    }

    /// Returns once nothing is queued or running.
    func drained() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                if !s.running && s.items.isEmpty { return true }
                s.drainWaiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }
}

/// One row of `np_record`: a refusal (`code`) or what the payment came to.
struct RecordedRow: Sendable {
    var code: String?
    var message: String?
    var outcome: String?
    var replayed: Bool
    var reference: String?
    var expiresAtMilliseconds: Int64?
    var remaining: String?
    var confirmedAtSeconds: Int64?
    var retryAfterSeconds: Int64?
}
