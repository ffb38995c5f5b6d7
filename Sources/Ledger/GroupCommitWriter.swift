import DequeModule
import Foundation

/// One unit of work for the writer thread.
final class PendingOp: @unchecked Sendable {
    /// Runs inside the batch transaction (within its own savepoint).
    let execute: (LedgerTransaction) throws -> Void
    /// Called once after the batch is durable (nil) or failed (why the batch was not written).
    let finish: (BatchFailure?) -> Void
    /// Run, answer, then roll back: the op sees real state and changes nothing.
    let dryRun: Bool
    /// Whether the op is a payment (commit hooks of crash tests fire only for those batches).
    let isPayment: Bool
    init(dryRun: Bool = false, isPayment: Bool = false, execute: @escaping (LedgerTransaction) throws -> Void,
         finish: @escaping (BatchFailure?) -> Void) {
        self.dryRun = dryRun; self.isPayment = isPayment; self.execute = execute; self.finish = finish
    }
}

/// Why a whole batch was not written (a storage fault): every op in it is answered
/// `storage_unavailable` with this message, and none of them is acknowledged.
struct BatchFailure: Error { let message: String }

/// Why an op was not queued.
enum EnqueueRefusal: Error {
    /// The ledger is closing; nothing new runs.
    case closing
    /// `queueLimit` ops are already waiting: the caller is told to back off instead of the
    /// process growing without bound.
    case full
}

/// The single writer with group commit. Ops that arrive while a commit is in flight queue up
/// and go into the next transaction together, so one fsync serves many payments; each caller
/// is answered only after the transaction holding its op is durable. No lock is held across a
/// commit: the queue lock guards only the queue.
final class GroupCommitWriter: @unchecked Sendable {
    private let condition = NSCondition()
    /// A deque: taking a batch off the front is O(batch), not O(queue) as `removeFirst(n)` on
    /// an array is (the queue may hold `queueLimit` ops under overload).
    private var queue = Deque<PendingOp>()
    private var closing = false
    private let done = DispatchSemaphore(value: 0)
    private let batchSizeMax: Int
    private let queueLimit: Int
    private let process: ([PendingOp]) -> Void

    init(batchSizeMax: Int, queueLimit: Int, process: @escaping ([PendingOp]) -> Void) {
        self.batchSizeMax = batchSizeMax
        self.queueLimit = queueLimit
        self.process = process
    }

    func start() {
        let thread = Thread { [self] in
            nameCurrentThread("np-ledger-write")
            loop()
        }
        thread.start()
    }

    /// Queues ops together, so the writer takes them into the same transaction when they fit in
    /// one batch. All or none: a refusal queues nothing.
    func enqueue(_ ops: [PendingOp]) throws(EnqueueRefusal) {
        condition.lock()
        defer { condition.unlock() }
        if closing { throw .closing }
        if queue.count + ops.count > queueLimit { throw .full }
        queue.append(contentsOf: ops)
        condition.signal()
    }

    var queueDepth: Int { condition.lock(); defer { condition.unlock() }; return queue.count }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closing { condition.wait() }
            if queue.isEmpty && closing {
                condition.unlock()
                break
            }
            let take = min(queue.count, batchSizeMax)
            let batch = Array(queue.prefix(take))
            queue.removeFirst(take)
            condition.unlock()
            process(batch)
        }
        done.signal()
    }

    /// Stops taking ops, finishes everything queued (the last commit included), then returns.
    func close() {
        condition.lock()
        let wasClosing = closing
        closing = true
        condition.broadcast()
        condition.unlock()
        if !wasClosing { done.wait() }
    }
}

/// Names the calling thread for `top -H`, /proc and nanopay-bench's per-thread CPU figures.
/// Foundation's `Thread.name` does not reach the OS on Linux, and `pthread_setname_np` is not
/// visible to Swift there; the kernel keeps 15 characters. Best effort: elsewhere it does nothing.
func nameCurrentThread(_ name: String) {
    #if os(Linux)
    try? String(name.prefix(15)).write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
    #endif
}
